// One Node-API build serves Node 20 (this test runner) and Node 24 (code-server's extension
// host): the addon built by `npm install` loads and runs under Node 24 too. Node 24 comes from
// the npm package node@24, installed into the git-ignored .cache (slow checks only).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ensureModel } from './generator/index';

const root = path.resolve(__dirname, '..');
const prefix = path.join(root, '.cache', 'node24');
const node24 = path.join(prefix, 'node_modules', 'node', 'bin', 'node');

(process.env.SMALLTHINKER_SLOW ? describe : describe.skip)('the native addon under Node 24', function () {
  this.timeout(600_000);

  before(() => {
    if (!fs.existsSync(node24)) {
      execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix, 'node@24'], { stdio: 'inherit' });
    }
  });

  it('loads, inspects a model and generates', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0' });
    assert.match(execFileSync(node24, ['--version'], { encoding: 'utf8' }), /^v24\./);
    const script = `
      const addon = require(${JSON.stringify(path.join(root, 'native', 'build', 'Release', 'smallthinker.node'))});
      const report = addon.inspect(${JSON.stringify(model)});
      const s = addon.createSession(${JSON.stringify(model)}, { threads: 1, context: 64 });
      const logits = s.evaluate(Int32Array.of(1, 2, 3));
      process.stdout.write(JSON.stringify({ arch: report.arch, n: logits.length, node: process.version }));`;
    const out = JSON.parse(execFileSync(node24, ['-e', script], { encoding: 'utf8' }));
    assert.equal(out.arch, 'smallthinker');
    assert.ok(out.n > 0);
    assert.match(out.node, /^v24\./);
  });
});
