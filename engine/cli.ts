#!/usr/bin/env node
// The `smallthinker` command line (SPEC §3). Every failure prints one clear line and exits 1.
import { parseArgs, UsageError, type OptionKind } from './cli/args';
import { loadNativeAddon } from './native-addon';
import { runInspect } from './cli/inspect';

const USAGE = `usage: smallthinker <command> [options]

commands:
  inspect MODEL [--json]   validate a SmallThinker GGUF file and describe it`;

const COMMON_OPTIONS: Record<string, OptionKind> = {
  model: 'string',
  threads: 'number',
  context: 'number',
  'memory-budget': 'number',
  json: 'flag',
  help: 'flag',
};

function main(argv: string[]): number {
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
    default:
      throw new UsageError(`unknown command "${command}" (try --help)`);
  }
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`smallthinker: ${message}\n`);
  process.exitCode = 1;
}
