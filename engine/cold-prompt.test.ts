// The cold completion prompt's limit: what this machine evaluates in COLD_PROMPT_MS, from the
// engine's own measured prompt evaluations, never below a floor, fixed when loadModel asks.
import assert from 'node:assert/strict';
import { COLD_PROMPT_MS, ColdPromptLimit, FIRST_COLD_PROMPT_TOKENS, MIN_COLD_PROMPT_TOKENS } from './cold-prompt';

describe('the cold completion prompt limit', () => {
  it('is a fixed first guess until an evaluation is measured', () => {
    const limit = new ColdPromptLimit();
    assert.equal(limit.rate, undefined);
    assert.equal(limit.tokens, FIRST_COLD_PROMPT_TOKENS);
  });

  it('is what the measured speed evaluates in COLD_PROMPT_MS', () => {
    const limit = new ColdPromptLimit();
    limit.record(500, 5000);  // 100 tokens/s
    assert.equal(limit.rate, 100);
    assert.equal(limit.tokens, (100 * COLD_PROMPT_MS) / 1000);
  });

  it('follows the machine: each measurement weighs half', () => {
    const limit = new ColdPromptLimit();
    limit.record(1000, 5000);  // 200 tokens/s
    limit.record(1000, 2500);  // 400 tokens/s
    assert.equal(limit.rate, 300);
    assert.equal(limit.tokens, (300 * COLD_PROMPT_MS) / 1000);
  });

  it('ignores short evaluations (their time is mostly overhead) and empty timings', () => {
    const limit = new ColdPromptLimit();
    limit.record(3, 40);
    limit.record(500, 0);
    assert.equal(limit.rate, undefined);
  });

  it('never cuts below the floor, however slow the machine', () => {
    const limit = new ColdPromptLimit();
    limit.record(100, 100_000);  // 1 token/s
    assert.equal(limit.tokens, MIN_COLD_PROMPT_TOKENS);
  });

  it('is fixed when asked (loadModel coldPromptTokens), whatever is measured', () => {
    const limit = new ColdPromptLimit(64);
    limit.record(1000, 100);
    assert.equal(limit.tokens, 64);
  });
});
