// The built-in engine behind the one inference interface: every request goes to the engine
// process through the supervisor, under the model's idle clock, with the status bar saying what
// it does and a line in the log for each chat request. Chat deltas are routed by chat id.
import * as vscode from 'vscode';
import { ChatDeltaNotification, ChatRequest, CompletionRequest, TokenizeRequest, WarmChatNotification, WarmCompletionNotification } from '../engine/protocol';
import type { ChatParams, ChatResult, CompletionParams, CompletionResult } from '../engine/protocol';
import type { Cancellation } from './completion/pipeline';
import type { ChatSignal, Inference } from './inference';
import type { Model } from './model';

export class LocalEngine implements Inference {
  private readonly deltaHandlers = new Map<string, (text: string) => void>();

  constructor(private readonly model: Model, private readonly log: vscode.LogOutputChannel) {
    model.supervisor.onNotification(ChatDeltaNotification, (d) => this.deltaHandlers.get(d.chatId)?.(d.text));
  }

  get modelName(): string | undefined {
    return this.model.name;
  }

  get chatContext(): number {
    return this.model.chatContext;
  }

  complete(params: CompletionParams, token: Cancellation): Promise<CompletionResult> {
    return this.model.request(() => this.model.supervisor.request(CompletionRequest, params, token as never));
  }

  warm(params: Omit<CompletionParams, 'maxTokens'>): void {
    this.model.supervisor.notify(WarmCompletionNotification, params);
  }

  warmChat(params: ChatParams): void {
    this.model.supervisor.notify(WarmChatNotification, params);
  }

  completed(result: CompletionResult): void {
    this.model.status.speed(result.timings.decodeTokensPerSecond);
    this.model.refreshMemory();
  }

  async countTokens(text: string): Promise<number> {
    return (await this.model.request(() => this.model.supervisor.request(TokenizeRequest, { text }))).tokens.length;
  }

  async chat(params: ChatParams, signal: ChatSignal, onDelta: (text: string) => void): Promise<ChatResult> {
    const { model, log } = this;
    const source = new vscode.CancellationTokenSource();
    let settled = false;
    signal.onCancel(() => {
      if (settled) return;
      log.debug(`chat request ${params.chatId}: cancelling`);
      source.cancel();
    });
    this.deltaHandlers.set(params.chatId, onDelta);
    log.info(`chat request: ${params.messages.length} messages, up to ${params.maxTokens} tokens`);
    const done = model.generating();
    try {
      const result = await model.request(() => model.supervisor.request(ChatRequest, params, source.token as never));
      log.info(`chat answer: ${result.timings.generatedTokens} tokens (${result.stopReason}), ${result.timings.promptTokens} prompt tokens evaluated, ` +
        `${result.timings.reusedTokens} reused, ${result.timings.decodeTokensPerSecond.toFixed(1)} tokens/s`);
      model.status.speed(result.timings.decodeTokensPerSecond);
      return result;
    } catch (err) {
      log.info(`chat request ended: ${(err as Error).message}`);
      throw err;
    } finally {
      settled = true;
      this.deltaHandlers.delete(params.chatId);
      source.dispose();
      done();
    }
  }
}
