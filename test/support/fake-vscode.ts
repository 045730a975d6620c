// A minimal stand-in for the `vscode` module, enough to activate the bundled extension in a
// plain Node test and see what it registers. Real-editor behaviour is tested end to end.
import Module from 'node:module';

export interface FakeVscode {
  registeredCommands: Map<string, (...args: unknown[]) => unknown>;
  logLines: string[];
  shownLogs: number;
  restore(): void;
}

export function installFakeVscode(): FakeVscode {
  const state: FakeVscode = {
    registeredCommands: new Map(),
    logLines: [],
    shownLogs: 0,
    restore: () => undefined,
  };
  const channel = {
    info: (m: string) => state.logLines.push(`info ${m}`),
    warn: (m: string) => state.logLines.push(`warn ${m}`),
    error: (m: string) => state.logLines.push(`error ${m}`),
    debug: (m: string) => state.logLines.push(`debug ${m}`),
    trace: (m: string) => state.logLines.push(`trace ${m}`),
    appendLine: (m: string) => state.logLines.push(m),
    show: () => { state.shownLogs++; },
    dispose: () => undefined,
  };
  const vscode = {
    window: { createOutputChannel: () => channel },
    commands: {
      registerCommand: (id: string, fn: (...args: unknown[]) => unknown) => {
        if (state.registeredCommands.has(id)) throw new Error(`command ${id} registered twice`);
        state.registeredCommands.set(id, fn);
        return { dispose: () => state.registeredCommands.delete(id) };
      },
    },
  };
  type Loader = (request: string, parent: unknown, isMain: boolean) => unknown;
  const mod = Module as unknown as { _load: Loader };
  const original = mod._load;
  mod._load = function (request, parent, isMain) {
    if (request === 'vscode') return vscode;
    return original.call(this, request, parent, isMain);
  };
  state.restore = () => { mod._load = original; };
  return state;
}
