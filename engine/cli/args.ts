// A small, strict argument parser for the `smallthinker` CLI: unknown options are errors,
// so a typo never silently runs with defaults.

export type OptionKind = 'string' | 'number' | 'flag' | 'list';

export interface ParsedArgs {
  positionals: string[];
  options: Map<string, string | number | boolean | string[]>;
}

export class UsageError extends Error {}

export function parseArgs(argv: string[], spec: Record<string, OptionKind>): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | number | boolean | string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const kind = spec[name];
    if (!kind) throw new UsageError(`unknown option --${name}`);
    if (kind === 'flag') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      options.set(name, true);
      continue;
    }
    const raw = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (raw === undefined) throw new UsageError(`--${name} needs a value`);
    if (kind === 'list') {
      options.set(name, [...((options.get(name) as string[] | undefined) ?? []), raw]);
    } else if (kind === 'number') {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} needs a number, got "${raw}"`);
      options.set(name, n);
    } else {
      options.set(name, raw);
    }
  }
  return { positionals, options };
}
