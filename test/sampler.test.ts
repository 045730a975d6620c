// The native sampler: greedy is the argmax, sampling is reproducible from its seed and obeys
// top-k, top-p, min-p and the repetition penalty.
import assert from 'node:assert/strict';
import { loadNativeAddon, type NativeSession } from '../engine/native-addon';
import { ensureModel } from './generator/index';

describe('sampler', () => {
  let session: NativeSession;
  before(async () => {
    session = loadNativeAddon().createSession(await ensureModel({ preset: 'tiny', type: 'q4_0' }), { threads: 1, context: 64 });
  });

  const logits = Float32Array.from([0.1, 2.0, 1.9, -1, 0.5, 1.95]);
  const draw = (params: Parameters<NativeSession['createSampler']>[0], n = 300) => {
    const s = session.createSampler(params);
    return Array.from({ length: n }, () => s.sample(logits));
  };

  it('greedy picks the largest logit (the first on ties)', () => {
    assert.equal(session.createSampler({}).sample(logits), 1);
    assert.equal(session.createSampler({ temperature: 0 }).sample(Float32Array.from([3, 5, 5, 1])), 1);
  });

  it('is reproducible from its seed and varies across seeds', () => {
    assert.deepEqual(draw({ temperature: 1, seed: 42 }), draw({ temperature: 1, seed: 42 }));
    assert.notDeepEqual(draw({ temperature: 1, seed: 42 }), draw({ temperature: 1, seed: 43 }));
  });

  it('top-k keeps only the k most likely tokens', () => {
    assert.deepEqual(new Set(draw({ temperature: 5, topK: 2, seed: 1 })), new Set([1, 5]));
    assert.deepEqual(new Set(draw({ temperature: 5, topK: 1, seed: 1 })), new Set([1]));
  });

  it('top-p keeps the smallest set reaching the mass; min-p drops the unlikely', () => {
    assert.deepEqual(new Set(draw({ temperature: 1, topP: 0.01, seed: 1 })), new Set([1]));
    const minP = new Set(draw({ temperature: 1, minP: 0.5, seed: 1 }));
    assert.ok(!minP.has(3) && !minP.has(0), `min-p kept ${[...minP]}`);
    assert.ok(minP.has(1) && minP.has(2) && minP.has(5));
  });

  it('the repetition penalty steers away from recent tokens', () => {
    const s = session.createSampler({ temperature: 0, repeatPenalty: 1.5 });
    s.accept(1);
    assert.equal(s.sample(logits), 5);
  });

  it('over a whole vocabulary: greedy is the first maximum, top-k exactly the k best (ties to the lower id), NaNs passed over', () => {
    const V = 151_936;
    let state = 99;
    const next = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    // Coarse levels: thousands of ties, also across the 40th place.
    const big = Float32Array.from({ length: V }, () => Math.round((next() + next() + next() - 1.5) * 6) / 2);
    for (const i of [5, 77_777, V - 1]) big[i] = NaN;
    const ranked = [...big.keys()].filter((i) => !Number.isNaN(big[i])).sort((a, b) => big[b] - big[a] || a - b);
    assert.equal(session.createSampler({}).sample(big), ranked[0]);
    const penalised = session.createSampler({ temperature: 0, repeatPenalty: 100 });
    for (const t of [ranked[0], ranked[1], ranked[0]]) penalised.accept(t);
    assert.equal(penalised.sample(big), ranked[2], 'the penalty, once per token however often it recurs');
    const flat = session.createSampler({ temperature: 100, topK: 40, seed: 3 });
    const drawn = new Set(Array.from({ length: 4000 }, () => flat.sample(big)));
    assert.deepEqual([...drawn].sort((a, b) => a - b), ranked.slice(0, 40).sort((a, b) => a - b));
    assert.equal(session.createSampler({}).sample(Float32Array.from([NaN, 1, 2])), 0, 'a NaN first logit stays the greedy pick');
  });

  it('rejects bad arguments clearly', () => {
    assert.throws(() => session.createSampler({ temperature: 'hot' as unknown as number }), /temperature must be a number/);
    assert.throws(() => session.createSampler({}).sample(new Float32Array(0)), /at least one logit/);
    assert.throws(() => (session.createSampler({}) as unknown as { sample(x: unknown): number }).sample([1, 2]), /Float32Array/);
  });
});
