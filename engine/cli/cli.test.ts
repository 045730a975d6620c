// The `smallthinker` command as users run it (dist/cli.js): outputs of docs/cli.md and one clear
// error line with status 1 for bad input.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ensureModel } from '../../test/generator/index';
import { tempDir } from '../../test/support/temp-dir';

const cli = path.resolve(__dirname, '..', '..', 'dist', 'cli.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

describe('smallthinker CLI', function () {
  this.timeout(60_000);
  let model: string;
  before(async () => { model = await ensureModel({ preset: 'tiny', type: 'q4_0' }); });

  it('generate --json: prompt and generated ids, text and speeds; greedy is deterministic', () => {
    const a = run('generate', '--model', model, '--prompt', 'function add(a, b) {', '--max-tokens', '12', '--json', '--threads', '2');
    assert.equal(a.status, 0, a.stderr);
    const out = JSON.parse(a.stdout);
    assert.ok(out.prompt_tokens.length > 3);
    assert.ok(out.tokens.length > 0 && out.tokens.length <= 12);
    assert.equal(typeof out.text, 'string');
    for (const k of ['prefill_tokens_per_s', 'decode_tokens_per_s', 'peak_rss_bytes']) assert.ok(out[k] >= 0, k);
    const b = JSON.parse(run('generate', '--model', model, '--prompt', 'function add(a, b) {', '--max-tokens', '12', '--json').stdout);
    assert.deepEqual(b.tokens, out.tokens);
    const streamed = run('generate', '--model', model, '--prompt', 'function add(a, b) {', '--max-tokens', '12');
    assert.equal(streamed.stdout, `${out.text}\n`);
  });

  it('generate stops at a stop string and does not print it', () => {
    const full = JSON.parse(run('generate', '--model', model, '--prompt', 'x', '--max-tokens', '24', '--json').stdout);
    const stop = full.text.slice(3, 5);
    if (stop.length < 2) return;  // the model produced too little text to cut
    const cut = JSON.parse(run('generate', '--model', model, '--prompt', 'x', '--max-tokens', '24', '--stop', stop, '--json').stdout);
    assert.equal(cut.text, full.text.slice(0, full.text.indexOf(stop)));
  });

  it('eval --json: the top-N logits of every prompt position, best first', () => {
    const file = path.join(tempDir('st-eval-'), 'p.txt');
    fs.writeFileSync(file, 'const x = 1;\nconst y = x + 2;\n');
    const r = run('eval', '--model', model, '--prompt-file', file, '--top', '3', '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.positions.length, out.prompt_tokens.length);
    for (const pos of out.positions) {
      assert.equal(pos.length, 3);
      assert.ok(pos[0][1] >= pos[1][1] && pos[1][1] >= pos[2][1]);
    }
  });

  it('takes a Q8_0 KV cache on request', () => {
    const r = run('generate', '--model', model, '--prompt', 'x', '--max-tokens', '4', '--kv-type', 'q8_0', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.match(run('bench', '--model', model, '--kv-type', 'q4').stderr, /--kv-type must be f16, q8_0 or f32/);
  });

  it('bench --json reports the load time, speeds, memory and the expert-cache counters', () => {
    const started = performance.now();
    const out = JSON.parse(run('bench', '--model', model, '--prompt-tokens', '16', '--gen-tokens', '4', '--json').stdout);
    assert.ok(out.load_ms > 0 && out.load_ms < performance.now() - started, `load_ms ${out.load_ms}`);
    assert.ok(out.prefill_tokens_per_s > 0 && out.decode_tokens_per_s > 0 && out.peak_rss_bytes > 0);
    // 3 decode steps: the last one is the last half, timed on its own as well.
    assert.ok(out.decode_last_half_tokens_per_s > 0);
    assert.deepEqual(Object.keys(out.expert_cache).sort(), ['bytes_read', 'decode_last_half_per_token', 'decode_per_token', 'hits', 'misses', 'stall_ms']);
    assert.equal(out.memory_plan, null);  // no budget: the file is mapped, nothing is read explicitly
    assert.equal(out.routing.expert_uses.length, out.routing.n_layer * out.routing.n_expert);
  });

  for (const [what, args, pattern] of [
    ['no model', ['generate', '--prompt', 'x'], /--model PATH is required/],
    ['a missing model file', ['generate', '--model', '/nope.gguf', '--prompt', 'x'], /nope\.gguf: cannot open/],
    ['a file that is not GGUF', ['bench', '--model', __filename], /not a GGUF file/],
    ['more context than the model has', ['bench', '--model', '@', '--context', '100000'], /context of 100000 tokens is more than the model's 8192/],
    ['a bench longer than its context', ['bench', '--model', '@', '--context', '30', '--prompt-tokens', '16', '--gen-tokens', '40'], /context of 30 tokens is too short for 16 prompt and 40 generated tokens/],
    ['a prompt longer than the context', ['generate', '--model', '@', '--context', '8', '--prompt', 'a long prompt that does not fit in eight tokens at all'], /exceeds the context of 8 tokens/],
    ['an unknown option', ['generate', '--model', '@', '--temprature', '1'], /unknown option --temprature/],
    ['an unknown command', ['serve'], /unknown command "serve"/],
  ] as Array<[string, string[], RegExp]>) {
    it(`fails clearly on ${what}`, () => {
      const r = run(...args.map((a) => (a === '@' ? model : a)));
      assert.equal(r.status, 1);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    });
  }
});
