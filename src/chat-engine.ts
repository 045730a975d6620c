// Chat requests to the engine for every feature that asks the model something (the chat view,
// inline edits, code actions): the streamed deltas routed by chat id, cancellation, the status
// bar while it generates, and a line in the log for each request.
import * as vscode from 'vscode';
import { ChatDeltaNotification, ChatRequest, TokenizeRequest } from '../engine/protocol';
import type { ChatEngine } from './chat/controller';
import type { Model } from './model';

export function createChatEngine(model: Model, log: vscode.LogOutputChannel): ChatEngine {
  const { supervisor } = model;
  const deltaHandlers = new Map<string, (text: string) => void>();
  supervisor.onNotification(ChatDeltaNotification, (d) => deltaHandlers.get(d.chatId)?.(d.text));
  return {
    chat: async (params, signal, onDelta) => {
      const source = new vscode.CancellationTokenSource();
      let settled = false;
      signal.onCancel(() => {
        if (settled) return;
        log.debug(`chat request ${params.chatId}: cancelling`);
        source.cancel();
      });
      deltaHandlers.set(params.chatId, onDelta);
      log.info(`chat request: ${params.messages.length} messages, up to ${params.maxTokens} tokens`);
      const done = model.generating();
      try {
        const result = await model.request(() => supervisor.request(ChatRequest, params, source.token as never));
        log.info(`chat answer: ${result.timings.generatedTokens} tokens (${result.stopReason}), ${result.timings.promptTokens} prompt tokens evaluated, ` +
          `${result.timings.reusedTokens} reused, ${result.timings.decodeTokensPerSecond.toFixed(1)} tokens/s`);
        model.status.speed(result.timings.decodeTokensPerSecond);
        return result;
      } catch (err) {
        log.info(`chat request ended: ${(err as Error).message}`);
        throw err;
      } finally {
        settled = true;
        deltaHandlers.delete(params.chatId);
        source.dispose();
        done();
      }
    },
    countTokens: async (text) => (await model.request(() => supervisor.request(TokenizeRequest, { text }))).tokens.length,
  };
}
