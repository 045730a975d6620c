// The bit-identity hash of a run: sha256 of the teacher-forced top-8 (ids and logits) of a
// fixed prompt and of 16 greedily generated tokens, with one kernel table and load mode. Shared
// by the bit-identity test (this machine's builds) and the cross-platform test (the same CLI
// and models, the addon built for Windows or arm64 and run under Wine or qemu): equal hashes
// mean equal numbers to the bit.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ModelOptions } from '../generator/index';

export const hashesFile = path.join(__dirname, '..', 'bit-identity.hashes.json');

export const PROMPT = 'function fibonacci(n) {\n  if (n < 2) return n;\n  return fibonacci(n - 1) + fibonacci(n - 2);\n}\n'.repeat(8);

export interface BitCase {
  name: string;
  model: Partial<ModelOptions> & Pick<ModelOptions, 'preset'>;
  slow?: boolean;
  /** The budgeted mode's budget (default 512 MiB, for the tiny models). */
  budgetMiB?: number;
}

export const BIT_CASES: BitCase[] = [
  { name: 'tiny q4_0 upstream', model: { preset: 'tiny', type: 'q4_0' } },
  { name: 'tiny q4_0 transposed down', model: { preset: 'tiny', type: 'q4_0', flavour: 'powerinfer' } },
  { name: 'tiny q8_0', model: { preset: 'tiny', type: 'q8_0' } },
  { name: 'tiny f16', model: { preset: 'tiny', type: 'f16' } },
  // Packed 16 rows at a time on the VNNI tables (IQ4_NL's codes looked up, the Q5 types' fifth
  // bits added, the Q?_1 types against Q8_1), rows as in the file elsewhere.
  { name: 'tiny iq4_nl', model: { preset: 'tiny', type: 'iq4_nl' } },
  { name: 'tiny q5_0', model: { preset: 'tiny', type: 'q5_0' } },
  { name: 'tiny q4_1', model: { preset: 'tiny', type: 'q4_1' } },
  { name: 'tiny q5_1', model: { preset: 'tiny', type: 'q5_1' } },
  // The same for IQ4_XS's super-blocks (rows of 256: tiny-256; its file holds Q6_K and Q4_K too).
  { name: 'tiny-256 iq4_xs', model: { preset: 'tiny-256', type: 'iq4_xs' } },
  { name: 'tiny-swa q4_0 sliding window', model: { preset: 'tiny-swa', type: 'q4_0', flavour: 'powerinfer' } },
  { name: 'tiny-swa f32 sliding window', model: { preset: 'tiny-swa', type: 'f32' } },
  // The 4B shape with the SIMD tables only: the scalar one takes minutes per run there, and
  // the tiny models pin it.
  { name: '4b q4_0', model: { preset: '4b', type: 'q4_0', vocab: 'qwen' }, slow: true, budgetMiB: 1024 },
  { name: '4b f16', model: { preset: '4b', type: 'f16', vocab: 'qwen' }, slow: true, budgetMiB: 2048 },
];

// Tables that promise another table's numbers are held to its hashes and keep none of their own:
// the SSE4.2 table and its AVX build the scalar table's, NEON's build with the dot-product
// instruction NEON's (native/src/kernels/neon_dot.h). In the tests' order of tables, each comes
// after the table it is held to.
export const HELD_TO: Readonly<Record<string, string>> = { sse42: 'scalar', avx: 'scalar', neondot: 'neon' };

/** The table whose kept hashes `isa` must give: its own, or the one it is held to. */
export const keptHashesOf = (isa: string): string => HELD_TO[isa] ?? isa;

/** The two load modes with their CLI options: mapped, and a budget with a small expert cache (experts read, evicted and read again). */
export function loadModes(c: BitCase): Array<[string, string[]]> {
  const big = c.model.preset === '4b';
  return [['mapped', []], ['budgeted', ['--memory-budget', String(c.budgetMiB ?? 512), '--expert-slots', big ? '40' : '8']]];
}

/** Runs the CLI with `args` (plus --json, 2 threads) under SMALLTHINKER_ISA=isa and returns its last JSON line. */
export type RunCliJson = (args: string[], isa: string) => unknown;

export function resultHash(run: RunCliJson, model: string, isa: string, budget: string[], promptFile: string): string {
  const evaluated = run(['eval', '--model', model, '--prompt-file', promptFile, '--top', '8', ...budget], isa) as { positions: unknown };
  const generated = run(['generate', '--model', model, '--prompt-file', promptFile, '--max-tokens', '16', ...budget], isa) as { tokens: number[] };
  return createHash('sha256').update(JSON.stringify([evaluated.positions, generated.tokens])).digest('hex');
}

export function readKeptHashes(): Record<string, string> {
  return fs.existsSync(hashesFile) ? JSON.parse(fs.readFileSync(hashesFile, 'utf8')) : {};
}

/** Merges `updates` into the kept file as it is now (two test files may update it in one run). */
export function writeKeptHashes(updates: Record<string, string>): void {
  const merged = { ...readKeptHashes(), ...updates };
  fs.writeFileSync(hashesFile, `${JSON.stringify(Object.fromEntries(Object.entries(merged).sort()), null, 2)}\n`);
}
