// The engine's results, pinned to the bit: for each test model, load mode and kernel table,
// the teacher-forced top-8 (ids and logits) of a prompt long enough for two prompt batches and
// 16 greedily generated tokens, hashed, against the hashes kept in bit-identity.hashes.json.
// A change of the code that is not meant to change any number (a refactoring, a new weight
// format beside the old ones) must leave every hash as it is; one that is meant to must say
// so in its commit and update the file (SMALLTHINKER_UPDATE_HASHES=1).
// By default: the tiny models with this CPU's best kernels; with SMALLTHINKER_SLOW=1 every
// kernel table the CPU has, and the 4B shape at Q4_0 and F16.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ensureModel } from './generator/index';
import { BIT_CASES as cases, HELD_TO, PROMPT, keptHashesOf, loadModes, readKeptHashes, resultHash, writeKeptHashes } from './support/bit-hash';
import { tempDir } from './support/temp-dir';

const root = path.resolve(__dirname, '..');
const cli = path.join(root, 'dist', 'cli.js');
const slow = !!process.env.SMALLTHINKER_SLOW;

/** The kernel table a process gets with SMALLTHINKER_ISA=isa ('' = this CPU's best), or undefined when it has none such. */
function tableName(isa: string, model: string): string | undefined {
  const script = `const { loadNativeAddon } = require(${JSON.stringify(path.join(root, 'engine', 'native-addon.ts'))});
    process.stdout.write(loadNativeAddon().createSession(${JSON.stringify(model)}, { threads: 1, context: 64 }).info.isa);`;
  try {
    return execFileSync(process.execPath, ['--import=tsx', '-e', script], {
      encoding: 'utf8', env: { ...process.env, SMALLTHINKER_ISA: isa }, stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return undefined;
  }
}

/** The kernel tables this CPU runs: the best one by default, all of them in the slow run. */
async function tables(): Promise<string[]> {
  const model = await ensureModel({ preset: 'tiny', type: 'f32' });
  if (!slow) return [tableName('', model)!];
  return ['scalar', 'sse42', 'avx', 'avx2', 'avxvnni', 'avx512', 'neon', 'neondot'].filter((isa) => tableName(isa, model) !== undefined);
}

function run(args: string[], isa: string): unknown {
  const out = execFileSync(process.execPath, [cli, ...args, '--json', '--threads', '2'], {
    encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, SMALLTHINKER_ISA: isa }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('bit identity: eval and greedy generation hash-equal to the kept hashes', function () {
  this.timeout(slow ? 1_800_000 : 120_000);
  const kept = readKeptHashes();
  const update = !!process.env.SMALLTHINKER_UPDATE_HASHES;
  const updated: Record<string, string> = {};
  let promptFile: string;
  let isas: string[];
  before(async () => {
    isas = await tables();
    promptFile = path.join(tempDir('st-bits-'), 'prompt.txt');
    fs.writeFileSync(promptFile, PROMPT);
  });
  after(() => {
    if (update) writeKeptHashes(updated);
  });

  for (const c of cases) {
    (c.slow && !slow ? it.skip : it)(c.name, async () => {
      const model = await ensureModel(c.model);
      const big = c.model.preset === '4b';
      const mismatches: string[] = [];
      for (const isa of isas.filter((t) => !big || (t !== 'scalar' && !HELD_TO[t]))) {
        for (const [mode, budget] of loadModes(c)) {
          const key = `${c.name} / ${keptHashesOf(isa)} / ${mode}`;
          const hash = resultHash(run, model, isa, budget, promptFile);
          if (HELD_TO[isa]) {
            const want = update ? updated[key] : kept[key];
            if (want !== hash) mismatches.push(`${c.name} / ${isa} / ${mode}: ${hash} ≠ the ${HELD_TO[isa]} table's ${want}`);
            continue;
          }
          if (update) updated[key] = hash;
          else if (kept[key] === undefined) mismatches.push(`${key}: no kept hash (run with SMALLTHINKER_UPDATE_HASHES=1)`);
          else if (kept[key] !== hash) mismatches.push(`${key}: ${hash} ≠ kept ${kept[key]}`);
        }
      }
      assert.deepEqual(mismatches, []);
    });
  }

  it('the mapped and the budgeted modes agree (the same hash) for every kept case', () => {
    for (const [key, hash] of Object.entries(kept)) {
      if (!key.endsWith('/ mapped')) continue;
      const budgeted = kept[key.replace(/mapped$/, 'budgeted')];
      if (budgeted !== undefined) assert.equal(budgeted, hash, key);
    }
  });
});
