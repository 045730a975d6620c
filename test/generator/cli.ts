// npm run models -- --preset tiny [--type q4_0] [--vocab small|qwen] [--flavour upstream|powerinfer] [--seed 1]
//   [--routing uniform|realistic] (4b and 21b at q4_0: see ModelOptions.routing)
// Generates (or finds in the cache) a synthetic model and prints its path.
import { ensureModel, type ModelOptions } from './index';
import { PRESETS } from './presets';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const preset = (arg('preset') ?? 'tiny') as ModelOptions['preset'];
  if (!(preset in PRESETS)) throw new Error(`unknown preset ${preset} (${Object.keys(PRESETS).join(', ')})`);
  const t0 = Date.now();
  const file = await ensureModel({
    preset,
    type: (arg('type') ?? 'f32') as ModelOptions['type'],
    vocab: (arg('vocab') ?? 'small') as ModelOptions['vocab'],
    flavour: (arg('flavour') ?? 'upstream') as ModelOptions['flavour'],
    seed: Number(arg('seed') ?? 1),
    tiedEmbeddings: process.argv.includes('--tied'),
    routing: arg('routing') as ModelOptions['routing'],
  });
  process.stderr.write(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  process.stdout.write(`${file}\n`);
}

main().catch((err) => {
  process.stderr.write(`models: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
