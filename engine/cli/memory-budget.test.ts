// `--memory-budget`: the plan, the refusal of a budget that cannot work, and the promise that
// matters most: under any budget the outputs are bit for bit those without one, whatever the
// cache policy, with or without prefetch, across prompt batches and decode steps.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ensureModel } from '../../test/generator/index';
import { tempDir } from '../../test/support/temp-dir';

const cli = path.resolve(__dirname, '..', '..', 'dist', 'cli.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

/** The smallest budget the engine accepts for `model`, read from its refusal of 1 MiB. */
function minimumBudget(model: string, ...extra: string[]): number {
  const r = run('bench', '--model', model, '--memory-budget', '1', ...extra);
  assert.equal(r.status, 1);
  const m = /a memory budget of 1 MiB is too small for this model: it needs at least (\d+) MiB \(baseline/.exec(r.stderr);
  assert.ok(m, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  return Number(m[1]);
}

describe('smallthinker --memory-budget', function () {
  this.timeout(120_000);
  const promptFile = path.join(tempDir('st-budget-'), 'p.txt');
  before(() => {
    // About 300 tokens: three prompt batches of up to 128.
    fs.writeFileSync(promptFile, fs.readFileSync(path.resolve(__dirname, 'generate.ts'), 'utf8').slice(0, 1200));
  });

  for (const [name, options] of [
    ['tiny, upstream', { preset: 'tiny', type: 'q4_0' }],
    ['tiny, powerinfer (transposed down)', { preset: 'tiny', type: 'q4_0', flavour: 'powerinfer' }],
    ['tiny-swa, f32', { preset: 'tiny-swa', type: 'f32' }],
  ] as const) {
    it(`gives the unbounded logits and tokens bit for bit (${name}), evicting experts on the way`, async () => {
      const model = await ensureModel(options);
      // Enough memory, but a cache capped at 12 slots: fewer than the 32 experts, so experts
      // are evicted and read again all the time.
      const budget = String(minimumBudget(model, '--context', '2048') + 4);
      const evalArgs = ['eval', '--model', model, '--prompt-file', promptFile, '--top', '8', '--json', '--context', '2048'];
      const unbounded = run(...evalArgs);
      assert.equal(unbounded.status, 0, unbounded.stderr);
      for (const variant of [[], ['--cache-policy', 'lru'], ['--no-prefetch'], ['--no-predict-next-layer']]) {
        const bounded = run(...evalArgs, '--memory-budget', budget, '--expert-slots', '12', ...variant);
        assert.equal(bounded.status, 0, bounded.stderr);
        assert.equal(bounded.stdout, unbounded.stdout, `eval differs under ${budget} MiB ${variant.join(' ')}`);
      }
      const genArgs = ['generate', '--model', model, '--prompt', 'function add(a, b) {', '--max-tokens', '24', '--json'];
      const free = JSON.parse(run(...genArgs).stdout);
      const capped = JSON.parse(run(...genArgs, '--memory-budget', budget, '--expert-slots', '12').stdout);
      assert.deepEqual(capped.tokens, free.tokens);
    });
  }

  it('bench --json reports the plan and the expert cache working within the budget', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0' });
    const budgetMiB = minimumBudget(model, '--context', '80') + 1;
    const r = run('bench', '--model', model, '--prompt-tokens', '64', '--gen-tokens', '16', '--memory-budget', String(budgetMiB),
      '--expert-slots', '12', '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const plan = out.memory_plan;
    assert.equal(plan.budget_bytes, budgetMiB * 2 ** 20);
    assert.equal(plan.expert_slots, 12);
    assert.equal(plan.experts_total, 32);
    const parts = plan.baseline_bytes + plan.resident_weights_bytes + plan.kv_cache_bytes + plan.scratch_bytes + plan.expert_cache_bytes;
    // 64 MiB of the budget are planned for nothing.
    assert.equal(plan.headroom_bytes, 64 * 2 ** 20);
    assert.ok(parts + plan.headroom_bytes <= plan.budget_bytes);
    const c = out.expert_cache;
    assert.ok(c.misses > 0 && c.hits > 0 && c.bytes_read >= c.misses * plan.expert_slot_bytes / 2, JSON.stringify(c));
    assert.ok(c.slots === plan.expert_slots && c.stall_ms >= 0);
    // Storage time: reads took some, and the idle share is part of the time a needed expert waited.
    assert.ok(c.io_busy_ms > 0 && c.io_idle_with_miss_ms <= c.miss_outstanding_ms, JSON.stringify(c));
    // In decode every layer asks for its k experts once per token: each ask is a hit or a miss.
    const perToken = c.decode_per_token;
    assert.equal(perToken.hits + perToken.misses, out.routing.n_expert_used * out.routing.n_layer);
    const lastHalf = c.decode_last_half_per_token;  // the last 7 of the 15 decode steps
    assert.equal(lastHalf.hits + lastHalf.misses, out.routing.n_expert_used * out.routing.n_layer);
    assert.ok(out.decode_last_half_tokens_per_s > 0);
    // What grew after the plan stayed within its growth margin: the headroom was not touched.
    assert.ok(out.peak_rss_bytes <= plan.budget_bytes - plan.headroom_bytes,
      `peak RSS ${out.peak_rss_bytes} reaches into the ${plan.headroom_bytes} bytes kept free under the budget ${plan.budget_bytes}`);
  });

  it('keeps reading around the page cache (O_DIRECT) through prompts and decode where the file system allows it', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' });
    // One unaligned read (say, of an embedding row into a misplaced buffer) would turn O_DIRECT
    // off for good, and every expert read after it would go through the page cache.
    const script = `const { loadNativeAddon } = require(${JSON.stringify(path.resolve(__dirname, '..', 'native-addon.ts'))});
      const s = loadNativeAddon().createSession(${JSON.stringify(model)}, { threads: 2, context: 512, memoryBudgetMiB: 512, maxExpertSlots: 8 });
      const atLoad = s.info.memory_plan.direct_io;
      s.evaluate(Int32Array.from({ length: 200 }, (_, i) => (i * 31) % 1000));
      for (let i = 0; i < 4; i++) s.evaluate(Int32Array.of(i + 5));
      process.stdout.write(JSON.stringify({ atLoad, after: s.info.memory_plan.direct_io, misses: s.expertCacheStats().misses }));`;
    const r = spawnSync(process.execPath, ['--import=tsx', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const { atLoad, after, misses } = JSON.parse(r.stdout);
    assert.ok(misses > 0);
    assert.equal(after, atLoad, `O_DIRECT ${atLoad ? 'worked at load but was turned off by evaluation' : 'was refused at load'}`);
    if (!atLoad) console.log('      (this file system refuses O_DIRECT: reads are buffered with POSIX_FADV_DONTNEED)');
  });

  it('prints the plan on stderr and refuses a context that does not fit', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0' });
    const min = minimumBudget(model);
    const ok = run('bench', '--model', model, '--prompt-tokens', '8', '--gen-tokens', '2', '--memory-budget', String(min + 4));
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /^memory plan for a budget of \d+ MiB: baseline \d+ MiB, resident weights \d+ MiB, KV cache \d+ MiB, scratch \d+ MiB, kept free 64 MiB, expert cache \d+ MiB \(\d+ slots/);
    const tooLong = run('bench', '--model', model, '--memory-budget', String(min + 4), '--context', '8192');
    assert.equal(tooLong.status, 1);
    assert.match(tooLong.stderr, /too small for this model: it needs at least \d+ MiB .*KV cache \d+ MiB for 8192 tokens/);
    assert.match(run('bench', '--model', model, '--cache-policy', 'mru').stderr, /--cache-policy must be frequency or lru/);
  });
});
