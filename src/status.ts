// The status bar item: what the engine is doing, the last completion speed and the memory in
// use; a click opens a small menu.
import * as vscode from 'vscode';

export type StatusState =
  | { kind: 'no-model' }
  | { kind: 'loading'; detail: string }
  | { kind: 'ready'; model: string }
  | { kind: 'generating'; model: string }
  | { kind: 'error'; message: string }
  | { kind: 'disabled' }
  | { kind: 'unloaded'; model: string; minutes: number }
  /** The remote engine answers: which server, its model, how long it took to answer the last check. */
  | { kind: 'remote'; server: string; model: string; latencyMs: number };

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private state: StatusState = { kind: 'no-model' };
  private tokensPerSecond = 0;
  private memoryBytes = 0;

  constructor(menuCommand: string) {
    this.item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'SmallThinker';
    this.item.command = menuCommand;
    this.render();
    this.item.show();
  }

  set(state: StatusState): void {
    this.state = state;
    this.render();
  }

  get current(): StatusState {
    return this.state;
  }

  speed(tokensPerSecond: number): void {
    if (tokensPerSecond > 0) this.tokensPerSecond = tokensPerSecond;
    this.render();
  }

  memory(bytes: number): void {
    this.memoryBytes = bytes;
    this.render();
  }

  get text(): string {
    return this.item.text;
  }

  private render(): void {
    const s = this.state;
    const mib = this.memoryBytes ? ` · ${Math.round(this.memoryBytes / 2 ** 20)} MiB` : '';
    const speed = this.tokensPerSecond ? ` · ${this.tokensPerSecond.toFixed(0)} tok/s` : '';
    this.item.backgroundColor = undefined;
    switch (s.kind) {
      case 'no-model':
        this.item.text = '$(circle-slash) SmallThinker';
        this.item.tooltip = 'SmallThinker: no model selected. Click to select a GGUF file.';
        break;
      case 'loading':
        this.item.text = '$(sync~spin) SmallThinker';
        this.item.tooltip = `SmallThinker: ${s.detail}`;
        break;
      case 'ready':
        this.item.text = `$(sparkle) SmallThinker${speed}${mib}`;
        this.item.tooltip = `SmallThinker: ${s.model} is ready${speed}${mib}`;
        break;
      case 'generating':
        this.item.text = `$(loading~spin) SmallThinker${speed}${mib}`;
        this.item.tooltip = `SmallThinker: ${s.model} is answering`;
        break;
      case 'disabled':
        this.item.text = '$(debug-pause) SmallThinker';
        this.item.tooltip = 'SmallThinker: inline completions are off. Click for the menu.';
        break;
      case 'unloaded':
        this.item.text = '$(circle-outline) SmallThinker';
        this.item.tooltip = `SmallThinker: ${s.model} was unloaded after ${s.minutes} minutes without a request, to free its memory. ` +
          'The next completion or chat loads it again.';
        break;
      case 'remote': {
        const host = s.server.replace(/^https?:\/\//, '');
        this.item.text = `$(cloud) SmallThinker · ${host}${speed}`;
        this.item.tooltip = `SmallThinker: answers come from ${s.model} on ${s.server} (${s.latencyMs} ms to answer)${speed}. ` +
          'Code is sent there (smallthinker.engine).';
        break;
      }
      case 'error':
        this.item.text = '$(error) SmallThinker';
        this.item.tooltip = `SmallThinker: ${s.message}`;
        this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
        break;
    }
  }

  dispose(): void {
    this.item.dispose();
  }
}
