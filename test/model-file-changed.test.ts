// A model file that changes on disk while the engine uses it: the engine ends with one line
// on stderr naming the file and exit status MODEL_FILE_CHANGED_EXIT_CODE (its supervisor then
// restarts it with the file as it is now), whether the change is found by a read of a page the
// truncation took away (SIGBUS) or before an evaluation. Any other SIGBUS still kills the
// process as before, and a file replaced by renaming is harmless. Each case runs in its own
// Node process, on a copy of a generated model.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadNativeAddon, MODEL_FILE_CHANGED_EXIT_CODE } from '../engine/native-addon';
import { ensureModel } from './generator/index';

const addonModule = path.resolve(__dirname, '..', 'engine', 'native-addon.ts');

// Loads the model (mapped unless `options` set a budget), evaluates, runs `script`.
function runChild(model: string, script: string, options: object = {}) {
  const code = `
    const fs = require('node:fs');
    const model = ${JSON.stringify(model)};
    const session = require(${JSON.stringify(addonModule)}).loadNativeAddon()
      .createSession(model, { threads: 2, context: 8192, ...${JSON.stringify(options)} });
    session.evaluate(Int32Array.of(1, 2, 3));
    process.stdout.write('evaluated before the change\\n');
    ${script}`;
  return spawnSync(process.execPath, ['--import=tsx', '-e', code], { encoding: 'utf8', timeout: 60_000 });
}

describe('a model file that changes on disk while in use', function () {
  this.timeout(120_000);
  let dir: string;
  let copy: string;
  let dataStart: number;
  const line = () => `smallthinker: the model file ${copy} changed on disk while it was in use (truncated or rewritten); restart to reload it\n`;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-changed-'));
    copy = path.join(dir, 'model copy.gguf');
  });
  beforeEach(async () => {
    fs.copyFileSync(await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'small' }), copy);
    // Q4_0 matrices in whole groups of 16 rows are read into a packed copy at load; the norms
    // and routers (F32), the embedding and this vocabulary's 349-row output are read from the
    // mapping. Cutting the file where its tensor data starts takes every page after the first.
    const report = loadNativeAddon().inspect(copy);
    dataStart = Math.min(...report.tensors.map((t) => t.offset));
    const mapped = report.tensors.filter((t) => t.type === 'F32');
    assert.ok(mapped.length > 0 && mapped.every((t) => t.offset >= dataStart + 4096), 'the F32 tensors are past the page the cut keeps');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function assertReported(r: ReturnType<typeof runChild>, stdout: string): void {
    assert.equal(r.status, MODEL_FILE_CHANGED_EXIT_CODE, `status ${r.status} signal ${r.signal}: ${r.stdout} ${r.stderr}`);
    assert.equal(r.stderr, line());
    assert.equal(r.stdout, stdout);
  }

  it('truncated, then evaluated: exits with status 75 and one line naming the file', () => {
    assert.equal(MODEL_FILE_CHANGED_EXIT_CODE, 75);
    const r = runChild(copy, `
      fs.truncateSync(model, ${dataStart});
      session.evaluate(Int32Array.of(4, 5, 6));
      process.stdout.write('evaluated after the change\\n');`);
    assertReported(r, 'evaluated before the change\n');
  });

  it('truncated during a generation: the read of a lost page (SIGBUS) ends it the same way', () => {
    // The generation runs on a native thread and checks the file only when it starts, so the
    // pages it reads after the cut fault.
    const r = runChild(copy, `
      let cut = false;
      session.createSlot().generate({ prompt: Int32Array.of(7, 8, 9), maxTokens: 8000 }, () => {
        if (cut) return;
        cut = true;
        process.stdout.write('truncating during the generation\\n');  // (the generating thread may end the process at once)
        fs.truncateSync(model, ${dataStart});
      }).then(() => process.stdout.write('generation finished\\n'));`);
    assertReported(r, 'evaluated before the change\ntruncating during the generation\n');
  });

  it('rewritten in place without changing size: the next evaluation ends it the same way', () => {
    const r = runChild(copy, `
      const fd = fs.openSync(model, 'r+');
      fs.writeSync(fd, Buffer.alloc(4096, 0x7f), 0, 4096, ${dataStart});
      fs.closeSync(fd);
      session.evaluate(Int32Array.of(4, 5, 6));
      process.stdout.write('evaluated after the change\\n');`);
    assertReported(r, 'evaluated before the change\n');
  });

  it('under a memory budget (nothing mapped), truncated: the next evaluation ends it the same way', () => {
    const r = runChild(copy, `
      fs.truncateSync(model, ${dataStart});
      session.evaluate(Int32Array.of(4, 5, 6));
      process.stdout.write('evaluated after the change\\n');`, { memoryBudgetMiB: 256, context: 256 });
    assertReported(r, 'evaluated before the change\n');
  });

  it('replaced by renaming another file over it: keeps working on the file it loaded', () => {
    const r = runChild(copy, `
      fs.writeFileSync(model + '.new', 'not a model');
      fs.renameSync(model + '.new', model);
      session.evaluate(Int32Array.of(4, 5, 6));
      process.stdout.write('evaluated after the change\\n');`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'evaluated before the change\nevaluated after the change\n');
  });

  it('any other SIGBUS still ends the process by the signal, without the message', () => {
    const r = runChild(copy, `process.kill(process.pid, 'SIGBUS');`);
    assert.equal(r.signal, 'SIGBUS', `status ${r.status}: ${r.stderr}`);
    assert.equal(r.stdout, 'evaluated before the change\n');
    assert.doesNotMatch(r.stderr, /smallthinker:/);
  });
});
