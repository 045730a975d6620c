// A cold start: the weights a model keeps in a layout of its own (Q4_0 and the K-quants packed
// 16 rows at a time) are read straight from storage, past the page cache, when the cache does
// not hold the file, and copied from the cache when it does; both give the same model bit for
// bit. Linux only: the test drops one file's pages from the cache with `dd iflag=nocache`.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ensureModel } from './generator/index';

const cli = path.resolve(__dirname, '..', 'dist', 'cli.js');
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};

/** Asks the kernel to drop the file's pages from the page cache (clean pages no one maps). */
function dropFromPageCache(file: string) {
  const r = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

/** What the load of `file` reports: its packed bytes, and those read past the page cache. */
function loadReport(file: string) {
  const r = JSON.parse(run('bench', '--model', file, '--prompt-tokens', '8', '--gen-tokens', '2', '--threads', '2', '--json'));
  return { packed: r.packed_weights_bytes as number, pastCache: r.packed_read_past_cache_bytes as number };
}

const onLinux = process.platform === 'linux' ? describe : describe.skip;

onLinux('loading a model file the page cache does not hold', function () {
  this.timeout(120_000);

  // Files of several MiB, whose header is most of them: the header's reader drops from the
  // cache the pages it has parsed (docs/memory.md) but not the first weights its last window
  // read past the header, so a warm file stays warm.
  for (const options of [{ preset: 'tiny-256', type: 'q4_0' }, { preset: 'tiny-256', type: 'q4_k_m' }] as const) {
    it(`reads the packed weights past the cache and packs them as from the cache (${options.preset} ${options.type})`, async function () {
      const model = await ensureModel(options);
      // A copy of its own beside the model cache (on its disk, not a tmpfs /tmp), so that
      // dropping its pages disturbs no other test.
      const dir = fs.mkdtempSync(path.join(path.dirname(model), 'cold-load-'));
      try {
        const file = path.join(dir, 'model.gguf');
        fs.copyFileSync(model, file);
        const fsType = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).stdout.trim();
        if (fsType === 'tmpfs' || fsType === 'ramfs') this.skip();  // no storage to read past the cache to
        const evalArgs = ['eval', '--model', file, '--prompt-file', __filename, '--top', '8', '--json', '--context', '4096'];

        fs.readFileSync(file);  // every page cached
        const warm = loadReport(file);
        assert.ok(warm.packed > 0, 'the model has packed weights');
        assert.equal(warm.pastCache, 0, `a cached file is copied from the cache (${warm.pastCache} of ${warm.packed} bytes read past it)`);
        const fromCache = run(...evalArgs);

        dropFromPageCache(file);
        const cold = loadReport(file);
        assert.equal(cold.packed, warm.packed);
        assert.equal(cold.pastCache, cold.packed, 'a file the cache does not hold is read past it');
        dropFromPageCache(file);
        assert.equal(run(...evalArgs), fromCache, 'the same logits at every position');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
