// Where the engine loads its native code from: only next to its own bundle. A workspace's
// working directory or an environment variable must never decide which library runs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ensureModel } from '../test/generator/index';

const cli = path.resolve(__dirname, '..', 'dist', 'cli.js');

describe('native addon location', function () {
  this.timeout(60_000);

  it('ignores a library planted in the working directory or named by an environment variable', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0' });
    const planted = fs.mkdtempSync(path.join(os.tmpdir(), 'st-planted-'));
    try {
      // Not a library: loading it would fail with "invalid ELF header" (or run its code, were it one).
      const bogus = path.join(planted, 'native', 'build', 'Release', 'smallthinker.node');
      fs.mkdirSync(path.dirname(bogus), { recursive: true });
      fs.writeFileSync(bogus, 'not a library');
      const fromEnv = spawnSync(process.execPath, [cli, 'inspect', model, '--json'],
        { encoding: 'utf8', cwd: planted, env: { ...process.env, SMALLTHINKER_ADDON: bogus } });
      assert.equal(fromEnv.status, 0, fromEnv.stderr);
      assert.equal(JSON.parse(fromEnv.stdout).arch, 'smallthinker');

      // A copy of the bundle with no engine next to it says so; it does not fall back to the planted one.
      const lonely = path.join(planted, 'elsewhere', 'dist', 'cli.js');
      fs.mkdirSync(path.dirname(lonely), { recursive: true });
      fs.copyFileSync(cli, lonely);
      const copy = spawnSync(process.execPath, [lonely, 'inspect', model], { encoding: 'utf8', cwd: planted });
      assert.equal(copy.status, 1);
      assert.match(copy.stderr, /native engine is not built \(looked for .*elsewhere.native.build.Release.smallthinker\.node\)/);
      assert.doesNotMatch(copy.stderr, /ELF/);
    } finally {
      fs.rmSync(planted, { recursive: true, force: true });
    }
  });
});
