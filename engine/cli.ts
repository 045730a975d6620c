#!/usr/bin/env node
// The `smallthinker` command line (docs/cli.md). Every failure prints one clear line and exits 1.
import { parseArgs, UsageError, type OptionKind } from './cli/args';
import { loadNativeAddon } from './native-addon';
import { runInspect } from './cli/inspect';
import { runBench, runEval, runGenerate } from './cli/generate';
import { runEvalCompletions } from './cli/eval-completions';

const USAGE = `usage: smallthinker <command> [options]

commands:
  inspect MODEL [--json]     validate a SmallThinker GGUF file and describe it
  generate --model M --prompt TEXT | --prompt-file F [--max-tokens N] [--temperature T]
           [--top-k K] [--top-p P] [--seed S] [--stop TEXT]... [--chat] [--json]
                             generate text (greedy at temperature 0), streamed to stdout
  eval --model M --prompt-file F [--top N] --json
                             teacher-forced top-N logits at every prompt position
  bench --model M [--prompt-tokens 512] [--gen-tokens 64] [--json]
                             measure prefill and decode speed
  eval-completions --model M [--format prefix|fim-spm|fim-psm] [--cases FILE] [--limit N] [--json]
                             score inline completions on the versioned infill cases

common options: --threads N (default: one per usable core), --context N, --kv-type f16|q8_0|f32,
                --allow-context-overflow, --json
memory budget:  --memory-budget MIB (0 = no bound: the file is memory-mapped), under a budget:
                --cache-policy frequency|lru, --no-prefetch (no early reads at all),
                --no-predict-next-layer (prefetch only what the router chose),
                --expert-slots N (cap the expert cache below what the budget allows)`;

const COMMON_OPTIONS: Record<string, OptionKind> = {
  model: 'string',
  threads: 'number',
  context: 'number',
  'memory-budget': 'number',
  'cache-policy': 'string',
  'no-prefetch': 'flag',
  'no-predict-next-layer': 'flag',
  'expert-slots': 'number',
  'kv-type': 'string',
  json: 'flag',
  help: 'flag',
  'allow-context-overflow': 'flag',
  prompt: 'string',
  'prompt-file': 'string',
  'max-tokens': 'number',
  temperature: 'number',
  'top-k': 'number',
  'top-p': 'number',
  seed: 'number',
  chat: 'flag',
  top: 'number',
  stop: 'list',
  'prompt-tokens': 'number',
  'gen-tokens': 'number',
  format: 'string',
  cases: 'string',
  limit: 'number',
};

const write = (s: string) => process.stdout.write(s);

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 1;
  }
  const args = parseArgs(rest, COMMON_OPTIONS);
  const json = args.options.get('json') === true;
  switch (command) {
    case 'inspect': {
      const modelPath = args.positionals[0] ?? (args.options.get('model') as string | undefined);
      if (!modelPath) throw new UsageError('inspect needs a MODEL path');
      process.stdout.write(`${runInspect(loadNativeAddon(), modelPath, json)}\n`);
      return 0;
    }
    case 'generate':
      await runGenerate(loadNativeAddon(), args, write);
      return 0;
    case 'eval':
      runEval(loadNativeAddon(), args, write);
      return 0;
    case 'bench':
      await runBench(loadNativeAddon(), args, write);
      return 0;
    case 'eval-completions':
      await runEvalCompletions(args, write);
      return 0;
    default:
      throw new UsageError(`unknown command "${command}" (try --help)`);
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`smallthinker: ${message}\n`);
  process.exitCode = 1;
});
