// `smallthinker eval-completions --model M [--format prefix|fim-spm|fim-psm|auto] [--cases FILE]`:
// the versioned infill cases (eval/completion-cases/) run through the engine process exactly
// as the extension asks it (a fresh document each, the extension's token and line limits, then
// the extension's completion filters), scored against what the file's author wrote. A table per
// language, or --json. docs/completion-quality.md says how to read it.
import fs from 'node:fs';
import path from 'node:path';
import { fork } from 'node:child_process';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import {
  COMPLETION_FORMAT_CHOICES, CompletionRequest, LoadModelRequest, ShutdownRequest, type CompletionFormatChoice, type CompletionPromptFormat, type FimVerdict,
} from '../protocol';
// The filters the extension applies to every suggestion: the score is of what the user would see.
import { applyFilters } from '../../src/completion/filters';
import { UsageError, type ParsedArgs } from './args';
import { scoreSuggestion, type CaseScore } from './completion-metrics';
import { sessionArgs } from './generate';

export interface CompletionCase {
  id: string;
  language: string;
  source: { file: string; line: number; package: string; licence: string };
  prefix: string;
  suffix: string;
  expected: string;
}

interface CaseResult extends CaseScore {
  id: string;
  language: string;
  suggestion: string;
  dropped?: string;
  first_token_ms: number;
}

/** The extension's limits for a suggestion at a line end (src/completion/pipeline.ts). */
const MAX_TOKENS = 64;
const MAX_LINES = 8;

function defaultCasesFile(): string {
  // dist/cli.js → eval/ beside dist/; engine/cli/*.ts (tests) → eval/ two levels up.
  for (const base of [path.join(__dirname, '..'), path.join(__dirname, '..', '..')]) {
    const file = path.join(base, 'eval', 'completion-cases', 'v1.json');
    if (fs.existsSync(file)) return file;
  }
  throw new UsageError('cannot find eval/completion-cases/v1.json next to the command; give --cases FILE');
}

export function readCases(file: string): { version: number; cases: CompletionCase[] } {
  let data: { version?: unknown; cases?: unknown };
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof data;
  } catch (err) {
    throw new Error(`cannot read the cases in ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!Array.isArray(data.cases) || !data.cases.every((c) => c && typeof c.prefix === 'string' && typeof c.suffix === 'string' &&
    typeof c.expected === 'string' && typeof c.id === 'string' && typeof c.language === 'string')) {
    throw new Error(`${file} is not a completion case file (a "cases" array of {id, language, prefix, suffix, expected})`);
  }
  return { version: Number(data.version ?? 0), cases: data.cases as CompletionCase[] };
}

const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : 0);

function summarise(results: CaseResult[]) {
  const n = results.length;
  const mean = (f: (r: CaseResult) => number) => (n ? results.reduce((s, r) => s + f(r), 0) / n : 0);
  return {
    cases: n,
    exact_first_line: mean((r) => (r.exact ? 1 : 0)),
    edit_similarity: mean((r) => r.similarity),
    accepted_chars: mean((r) => r.accepted),
    dropped_by_filters: results.filter((r) => r.dropped).length,
    first_token_ms_median: median(results.map((r) => r.first_token_ms)),
  };
}

export async function runEvalCompletions(args: ParsedArgs, write: (s: string) => void): Promise<void> {
  const s = sessionArgs(args);
  const format = (args.options.get('format') as string | undefined) ?? 'prefix';
  if (!COMPLETION_FORMAT_CHOICES.includes(format as CompletionFormatChoice)) {
    throw new UsageError(`--format must be one of ${COMPLETION_FORMAT_CHOICES.join(', ')}`);
  }
  const casesFile = (args.options.get('cases') as string | undefined) ?? defaultCasesFile();
  const { version, cases } = readCases(casesFile);
  const limit = args.options.get('limit') as number | undefined;
  const picked = limit !== undefined ? cases.slice(0, limit) : cases;
  const json = args.options.get('json') === true;

  // The engine process, as the extension runs it.
  const child = fork(path.join(__dirname, 'engine.js'), [], { stdio: ['pipe', 'pipe', 'inherit', 'ipc'], execArgv: [] });
  const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  connection.listen();
  const results: CaseResult[] = [];
  let formats: CompletionPromptFormat[] | undefined;
  let fim: FimVerdict | undefined;
  try {
    const info = await connection.sendRequest(LoadModelRequest, {
      modelPath: s.model, threads: s.threads, contextLength: s.context, memoryBudgetMiB: s.memoryBudgetMiB,
      // Each case scores the whole window, as a warmed file gets it: no cold-prompt cut.
      coldPromptTokens: 1 << 20,
    });
    formats = info.completionFormats;
    fim = info.fim;
    if (format === 'auto') {
      process.stderr.write(`smallthinker: auto is ${fim.autoFormat} for this model: fill-in-the-middle tokens ${fim.verdict} (${fim.reason})\n`);
    } else if (!formats.includes(format as CompletionPromptFormat)) {
      process.stderr.write(`smallthinker: this model has no fill-in-the-middle tokens; ${format} falls back to prefix\n`);
    }
    for (const c of picked) {
      const r = await connection.sendRequest(CompletionRequest, {
        documentId: `eval:${c.id}`, prefix: c.prefix, suffix: c.suffix, languageId: c.language, filePath: c.source.file,
        maxTokens: MAX_TOKENS, maxLines: MAX_LINES, format: format as CompletionFormatChoice,
      });
      const filtered = applyFilters(r.text, { prefix: c.prefix, suffix: c.suffix });
      const suggestion = 'text' in filtered ? filtered.text : '';
      results.push({
        id: c.id, language: c.language, suggestion, ...('dropped' in filtered ? { dropped: filtered.dropped } : {}),
        ...scoreSuggestion(suggestion, c.expected), first_token_ms: r.timings.promptMs,
      });
    }
    await connection.sendRequest(ShutdownRequest).catch(() => undefined);
  } finally {
    connection.dispose();
    if (child.exitCode === null) child.kill();
  }

  const languages = [...new Set(results.map((r) => r.language))];
  const perLanguage = Object.fromEntries(languages.map((l) => [l, summarise(results.filter((r) => r.language === l))]));
  const total = summarise(results);
  if (json) {
    write(`${JSON.stringify({
      model: path.basename(s.model), format, cases_file: path.basename(casesFile), cases_version: version, model_formats: formats ?? [],
      ...(fim ? { fim_tokens: fim.verdict, auto_format: fim.autoFormat } : {}),
      total, per_language: perLanguage, cases: results,
    })}\n`);
    return;
  }
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const row = (name: string, t: ReturnType<typeof summarise>) =>
    `| ${name.padEnd(10)} | ${String(t.cases).padStart(5)} | ${pct(t.exact_first_line).padStart(10)} | ${t.edit_similarity.toFixed(3).padStart(10)} | ` +
    `${t.accepted_chars.toFixed(1).padStart(14)} | ${String(t.dropped_by_filters).padStart(7)} | ${t.first_token_ms_median.toFixed(0).padStart(14)} |`;
  write([
    `${path.basename(s.model)}; format ${format === 'auto' && fim ? `auto (${fim.autoFormat})` : format}; ${picked.length} cases of ${path.basename(casesFile)} (version ${version})`,
    '| language   | cases | exact line | similarity | accepted chars | dropped | first token ms |',
    '|------------|-------|------------|------------|----------------|---------|----------------|',
    ...languages.map((l) => row(l, perLanguage[l])),
    row('all', total),
    '',
  ].join('\n'));
}
