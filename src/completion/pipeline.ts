// One inline-completion request from the editor to a suggestion, without `vscode`: skip rules,
// the cache, the adaptive debounce, the engine request (cancelled with the editor's token) and
// the filters. Every outcome has a reason for the log.
import type { CompletionFormatChoice, CompletionParams, CompletionResult, ContextChunk } from '../../engine/protocol';
import { SuggestionCache } from './cache';
import { AdaptiveDebounce, delay } from './debounce';
import { applyFilters, lineSuffix, linePrefix, type CursorContext } from './filters';

export interface CompletionInput extends CursorContext {
  documentId: string;
  languageId: string;
  filePath: string;
  /** The whole document's length without whitespace would be enough; this is its trimmed length. */
  documentChars: number;
  hasSelection: boolean;
  /** Invoked explicitly (keyboard shortcut or command) rather than by typing. */
  explicit: boolean;
  /** Code from other files for the prompt's start (./context.ts), read once the debounce is over. */
  context?: () => Promise<ContextChunk[]>;
}

export interface CompletionSettings {
  enabled: boolean;
  debounceMs: number;
  maxTokens: number;
  /** Language id → enabled; '*' is the default. */
  languages: Record<string, boolean>;
  /** How the prompt is laid out (smallthinker.completion.promptFormat). */
  promptFormat: CompletionFormatChoice;
  /** Pause while the machine runs on battery (the setting is on and the platform says so). */
  pausedOnBattery: boolean;
}

export interface Cancellation {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => void): { dispose(): void } | unknown;
}

export type Outcome = { text: string; source: 'engine' | 'cache'; result?: CompletionResult } | { skipped: string };

export type EngineRequest = (params: CompletionParams, token: Cancellation) => Promise<CompletionResult>;

/** Lines a suggestion may have where the rest of the cursor's line is empty. */
const MULTILINE_MAX_LINES = 8;

export function languageEnabled(settings: CompletionSettings, languageId: string): boolean {
  return settings.languages[languageId] ?? settings.languages['*'] ?? true;
}

/** Whether the cursor sits inside a string literal on its line (quotes counted, escapes skipped). */
export function insideString(line: string): boolean {
  let open: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (open) {
      if (c === open) open = undefined;
    } else if (c === '"' || c === "'" || c === '`') {
      open = c;
    }
  }
  return open !== undefined;
}

/** Why not to ask the model here, if there is a reason. */
export function skipReason(input: CompletionInput, settings: CompletionSettings): string | undefined {
  if (!settings.enabled && !input.explicit) return 'inline completions are turned off';
  if (!languageEnabled(settings, input.languageId) && !input.explicit) return `turned off for ${input.languageId}`;
  if (settings.pausedOnBattery && !input.explicit) return 'paused on battery power';
  if (input.hasSelection) return 'text is selected';
  if (input.documentChars < 4 && !input.explicit) return 'the file is almost empty';
  const after = lineSuffix(input);
  if (/^\w/.test(after) && !input.explicit) return 'the cursor is inside a word';
  const before = linePrefix(input);
  if (insideString(before) && /^\s*[^\s"'`)\]},;]/.test(after) && !input.explicit) return 'inside a string, before more of it';
  return undefined;
}

export class CompletionPipeline {
  readonly cache = new SuggestionCache();
  private readonly debounce: AdaptiveDebounce;

  constructor(private readonly settings: () => CompletionSettings, private readonly engine: EngineRequest,
    private readonly log: (message: string) => void) {
    this.debounce = new AdaptiveDebounce(() => this.settings().debounceMs);
  }

  async provide(input: CompletionInput, token: Cancellation): Promise<Outcome> {
    const settings = this.settings();
    const skip = skipReason(input, settings);
    if (skip) return { skipped: skip };
    const cached = this.cache.get(input.documentId, input.prefix, input.suffix);
    if (cached !== undefined) return { text: cached, source: 'cache' };
    const wait = input.explicit ? 0 : this.debounce.next();
    if (wait > 0 && !(await delay(wait, (cb) => token.onCancellationRequested(cb)))) return { skipped: 'cancelled while waiting (typing went on)' };
    if (token.isCancellationRequested) return { skipped: 'cancelled' };
    const multiline = lineSuffix(input).trim() === '';
    const context = (await input.context?.()) ?? [];
    if (token.isCancellationRequested) return { skipped: 'cancelled' };
    const params: CompletionParams = {
      documentId: input.documentId, prefix: input.prefix, suffix: input.suffix, languageId: input.languageId, filePath: input.filePath,
      maxTokens: settings.maxTokens, maxLines: multiline ? MULTILINE_MAX_LINES : 1, format: settings.promptFormat,
      ...(context.length ? { context } : {}),
    };
    if (context.length) {
      this.log(`completion context: ${context.map((c) => `${c.path} (${c.text.split('\n').length} lines)`).join(', ')}`);
    }
    const t0 = Date.now();
    const result = await this.engine(params, token);
    const filtered = applyFilters(result.text, input);
    const ms = Date.now() - t0;
    if ('dropped' in filtered) {
      this.log(`completion dropped (${filtered.dropped}) after ${ms} ms: ${JSON.stringify(result.text.slice(0, 80))}`);
      return { skipped: `dropped by ${filtered.dropped}` };
    }
    this.cache.set(input.documentId, input.prefix, input.suffix, filtered.text);
    this.log(`completion in ${ms} ms (${result.timings.promptTokens} new prompt tokens, ${result.timings.reusedTokens} reused, ` +
      `${result.timings.generatedTokens} generated, ${result.stopReason})`);
    return { text: filtered.text, source: 'engine', result };
  }
}
