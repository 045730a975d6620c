// The generator's routing options for the big presets: what they write (fast checks on the
// bytes of a few tensors), and, in the slow set, what the engine then does with them.
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { buildModelSpec, ensureModel, modelFileName } from './index';
import { f16ToF32 } from './quantize';
import { routingReport } from '../bench/routing-stats';
import { SMOOTH_FALL_OFF, type ModelOptions } from './model';

const slow = Boolean(process.env.SMALLTHINKER_SLOW);

function tensorBytes(options: ModelOptions, name: string): Buffer {
  const t = buildModelSpec(options).tensors.find((x) => x.name === name)!;
  const parts: Buffer[] = [];
  t.write((b) => parts.push(Buffer.from(b)));
  return Buffer.concat(parts);
}

/** Mean of the Q4_0 values (nibble − 8) over the whole tensor. */
function meanNibble(q4: Buffer): number {
  let sum = 0, n = 0;
  for (let b = 0; b + 18 <= q4.length; b += 18) {
    for (let j = 2; j < 18; j++) {
      sum += (q4[b + j] & 15) - 8 + (q4[b + j] >> 4) - 8;
      n += 2;
    }
  }
  return sum / n;
}

describe('generator routing options', function () {
  this.timeout(600_000);
  const base = { preset: '4b', type: 'q4_0', vocab: 'small', flavour: 'upstream', seed: 1 } as const;

  it('names the files apart and leaves the default file as it was', () => {
    assert.equal(modelFileName(base), 'st-g2-4b-q4_0-small-upstream-s1.gguf');
    assert.equal(modelFileName({ ...base, routing: 'realistic' }), 'st-g2-4b-q4_0-small-upstream-s1-routing-realistic.gguf');
    assert.throws(() => buildModelSpec({ ...base, preset: 'tiny', routing: 'uniform' }), /for the 4b and 21b presets/);
  });

  it('uniform: zero-mean weights (the default leans negative, which is what skews its routing)', () => {
    const q = 'blk.3.attn_q.weight';
    assert.ok(meanNibble(tensorBytes(base, q)) < -0.45);
    assert.ok(Math.abs(meanNibble(tensorBytes({ ...base, routing: 'uniform' }, q))) < 0.01);
  });

  it('realistic: a constant residual element that routers and gates read as a bias', () => {
    const o = { ...base, routing: 'realistic' } as const;
    const rowBytes = (1536 / 32) * 18;
    // Every embedding row starts with 7 × 1/7.
    const embd = tensorBytes(o, 'token_embd.weight');
    for (const row of [0, 1, 57, 300]) {
      const at = row * rowBytes;
      assert.ok(Math.abs(f16ToF32(embd.readUInt16LE(at)) * ((embd[at + 2] & 15) - 8) - 1) < 1e-3);
    }
    // Nothing writes element 0 afterwards: row 0 of the attention output and of every expert's down matrix is zero.
    const attnOut = tensorBytes(o, 'blk.5.attn_output.weight');
    assert.ok(attnOut.subarray(0, rowBytes).every((b) => b === 0));
    assert.ok(attnOut.subarray(rowBytes, 2 * rowBytes).some((b) => b !== 0));
    const down = tensorBytes(o, 'blk.5.ffn_down_exps.weight');
    const downRow = (768 / 32) * 18;
    for (const e of [0, 7, 31]) assert.ok(down.subarray(e * 1536 * downRow, e * 1536 * downRow + downRow).every((b) => b === 0));
    // Every gate row reads element 0 with the most negative weight.
    const gate = tensorBytes(o, 'blk.5.ffn_gate_exps.weight');
    for (const row of [0, 1, 767, 768 * 31]) assert.equal(gate[row * rowBytes + 2] & 15, 0);
    // Each router row's element 0 is the expert's bias: +2 for a hot set of 2k = 8 experts.
    const router = tensorBytes(o, 'blk.5.ffn_gate_inp.weight');
    const biases = Array.from({ length: 32 }, (_, e) => router.readFloatLE(e * 1536 * 4));
    assert.equal(biases.filter((b) => b === 2).length, 8);
    assert.equal(biases.filter((b) => b === 0).length, 24);
  });

  it('smooth: the same bias channel, with biases that fall off with a per-layer rank', () => {
    const o = { ...base, routing: 'smooth' } as const;
    const rowBytes = (1536 / 32) * 18;
    const gate = tensorBytes(o, 'blk.5.ffn_gate_exps.weight');
    for (const row of [0, 1, 767, 768 * 31]) assert.equal(gate[row * rowBytes + 2] & 15, 0);
    const biasesOf = (l: number) => {
      const router = tensorBytes(o, `blk.${l}.ffn_gate_inp.weight`);
      return Array.from({ length: 32 }, (_, e) => router.readFloatLE(e * 1536 * 4));
    };
    const layers = [3, 4, 5, 6].map(biasesOf);
    for (const biases of layers) {
      // Sorted, they are −c·ln(rank+1)^0.8 for one c of this layer: 0 for the first rank.
      const sorted = [...biases].sort((a, b) => b - a);
      const c = -sorted[31] / Math.pow(Math.log(32), 0.8);
      assert.ok(c >= SMOOTH_FALL_OFF[0] && c <= SMOOTH_FALL_OFF[1], `c = ${c}`);
      sorted.forEach((b, rank) => assert.ok(Math.abs(b + c * Math.pow(Math.log(rank + 1), 0.8)) < 1e-5, `rank ${rank}: ${b}`));
    }
    // Each layer ranks its experts its own way.
    const order = (biases: number[]) => biases.map((b, e) => [b, e]).sort((x, y) => y[0] - x[0]).map(([, e]) => e).join(',');
    assert.equal(new Set(layers.map(order)).size, layers.length);
  });

  (slow ? it : it.skip)('the engine routes the generated 4b as asked: uniform spreads, realistic has a hot quarter and > 60 % zero neurons, smooth falls off', async () => {
    const cli = path.resolve(__dirname, '..', '..', 'dist', 'cli.js');
    const report = async (routing: 'uniform' | 'realistic' | 'smooth') => {
      const model = await ensureModel({ preset: '4b', type: 'q4_0', vocab: 'qwen', flavour: 'upstream', seed: 1, routing });
      const r = spawnSync(process.execPath, [cli, 'bench', '--model', model, '--prompt-tokens', '128', '--gen-tokens', '32', '--threads', '2', '--json'],
        { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return routingReport(JSON.parse(r.stdout).routing);
    };
    const uniform = await report('uniform');
    assert.ok(uniform.maxFrequency < 0.35 && uniform.hotShare === 0, JSON.stringify(uniform));
    assert.ok(uniform.neuronSparsity > 0.4 && uniform.neuronSparsity < 0.6, JSON.stringify(uniform));
    const realistic = await report('realistic');
    assert.ok(realistic.rareShare >= 0.7 && realistic.hotShare >= 0.15, JSON.stringify(realistic));
    assert.ok(realistic.neuronSparsity > 0.6, JSON.stringify(realistic));
    // Smooth: each layer's busiest expert takes most tokens, the next ones fewer and fewer, a
    // long tail, and the busiest expert is not the same one in every layer.
    const smooth = await report('smooth');
    const [first, second, third, fourth] = smooth.ranked;
    assert.ok(first > 0.6 && first < 0.95, JSON.stringify(smooth));
    assert.ok(second > 0.3 && second < first && third < second && fourth < third, JSON.stringify(smooth));
    assert.ok(smooth.ranked[16] > 0 && smooth.ranked[16] < 0.15, JSON.stringify(smooth));
    assert.ok(smooth.distinctBusiest >= 8, JSON.stringify(smooth));
    assert.ok(smooth.neuronSparsity > 0.5, JSON.stringify(smooth));
  });

  (slow ? it : it.skip)('the realistic 4b in 1 GiB: the cache keeps the hot experts, and nearly every expert is a hit', async () => {
    const cli = path.resolve(__dirname, '..', '..', 'dist', 'cli.js');
    const model = await ensureModel({ preset: '4b', type: 'q4_0', vocab: 'qwen', flavour: 'upstream', seed: 1, routing: 'realistic' });
    const r = spawnSync(process.execPath, [cli, 'bench', '--model', model, '--prompt-tokens', '64', '--gen-tokens', '48', '--threads', '2',
      '--memory-budget', '1024', '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    const perToken = report.expert_cache.decode_per_token;
    assert.ok(perToken.hits / (perToken.hits + perToken.misses) > 0.9, JSON.stringify(perToken));
    assert.ok(report.peak_rss_bytes <= 1024 * 2 ** 20, `peak RSS ${report.peak_rss_bytes}`);
  });
});
