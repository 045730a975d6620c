// npm run models -- --preset tiny [--type q4_0] [--vocab small|qwen] [--flavour upstream|powerinfer] [--seed 1]
//   [--tied] [--routing uniform|realistic|smooth] (4b and 21b: see ModelOptions.routing)
// Generates (or finds in the cache) a synthetic model and prints its path. --help lists the choices.
import { ensureModel, type ModelOptions } from './index';
import { FILE_TYPES, isFileType } from './file-types';
import { PRESETS } from './presets';

const USAGE = `usage: npm run models -- [--preset ${Object.keys(PRESETS).join('|')}] [--type TYPE]
  [--vocab small|qwen] [--flavour upstream|powerinfer] [--seed N] [--tied] [--routing uniform|realistic|smooth]
TYPE: ${FILE_TYPES.join(', ')} (default f32)
  f32, f16, bf16, q8_0, q4_0: every matrix at that type; the others: llama-quantize's mix of that
  name (test/generator/file-types.ts). 'tiny-256' has every row a multiple of 256, so the K-quants
  and IQ4_XS need no fallback; --routing is for 4b and 21b (built at q4_0; another type
  re-quantises those weights, which takes minutes).
Prints the path of the generated (or cached) file.
`;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new Error(`unknown ${name} ${value} (${allowed.join(', ')})`);
  return value as T;
}

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  const preset = oneOf('preset', arg('preset') ?? 'tiny', Object.keys(PRESETS) as Array<ModelOptions['preset']>);
  const type = arg('type') ?? 'f32';
  if (!isFileType(type)) throw new Error(`unknown type ${type} (${FILE_TYPES.join(', ')})`);
  const routing = arg('routing');
  const t0 = Date.now();
  const file = await ensureModel({
    preset,
    type,
    vocab: oneOf('vocab', arg('vocab') ?? 'small', ['small', 'qwen'] as const),
    flavour: oneOf('flavour', arg('flavour') ?? 'upstream', ['upstream', 'powerinfer'] as const),
    seed: Number(arg('seed') ?? 1),
    tiedEmbeddings: process.argv.includes('--tied'),
    routing: routing === undefined ? undefined : oneOf('routing', routing, ['uniform', 'realistic', 'smooth'] as const),
  });
  process.stderr.write(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  process.stdout.write(`${file}\n`);
}

main().catch((err) => {
  process.stderr.write(`models: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
