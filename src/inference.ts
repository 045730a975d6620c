// The one interface every feature asks the model through, whichever engine answers: the
// built-in engine process (./local-engine.ts) or an OpenAI-compatible server
// (./remote/engine.ts). `EngineChoice` hands each call to the one `smallthinker.engine` names;
// the features never know which it is. No `vscode` import, so the choice is tested on its own.
import type { ChatParams, ChatResult, CompletionParams, CompletionResult } from '../engine/protocol';
import type { Cancellation } from './completion/pipeline';

export type EngineKind = 'local' | 'remote';

/** The chat's Stop (and an edit's Cancel): `cancel()` ends the request, `onCancel` hears of it. */
export interface ChatSignal {
  cancel(): void;
  onCancel(cb: () => void): void;
}

export interface Inference {
  /** The model that answers, by name; undefined while there is none (the features say how to choose one). */
  readonly modelName: string | undefined;
  /** Tokens a chat may hold (0: not known). */
  readonly chatContext: number;
  complete(params: CompletionParams, token: Cancellation): Promise<CompletionResult>;
  /** Evaluates a completion prompt ahead of the next keystroke, if the engine can (a hint: it may do nothing). */
  warm(params: Omit<CompletionParams, 'maxTokens'>): void;
  chat(params: ChatParams, signal: ChatSignal, onDelta: (text: string) => void): Promise<ChatResult>;
  /** Evaluates the prompt of a question still being written, if the engine can (a hint: it may do nothing). */
  warmChat(params: ChatParams): void;
  /** The number of tokens of a text for the model that answers (an estimate where the engine cannot count). */
  countTokens(text: string): Promise<number>;
  /** A suggestion was shown: the status bar takes its speed. */
  completed(result: CompletionResult): void;
}

/** Hands each call to the engine `kind()` names at the moment of the call. */
export class EngineChoice implements Inference {
  private readonly changeListeners: Array<() => void> = [];

  constructor(private readonly kind: () => EngineKind, private readonly engines: Record<EngineKind, Inference>) {}

  get current(): Inference {
    return this.engines[this.kind()];
  }

  get modelName(): string | undefined {
    return this.current.modelName;
  }

  get chatContext(): number {
    return this.current.chatContext;
  }

  complete(params: CompletionParams, token: Cancellation): Promise<CompletionResult> {
    return this.current.complete(params, token);
  }

  warm(params: Omit<CompletionParams, 'maxTokens'>): void {
    this.current.warm(params);
  }

  warmChat(params: ChatParams): void {
    this.current.warmChat(params);
  }

  chat(params: ChatParams, signal: ChatSignal, onDelta: (text: string) => void): Promise<ChatResult> {
    return this.current.chat(params, signal, onDelta);
  }

  countTokens(text: string): Promise<number> {
    return this.current.countTokens(text);
  }

  completed(result: CompletionResult): void {
    this.current.completed(result);
  }

  /** Called when the model that answers changes: loaded, unloaded, another engine chosen. */
  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  changed(): void {
    for (const l of this.changeListeners) l();
  }
}
