// The engine child process answers JSON-RPC on stdio and reports bad input as errors.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { EngineErrorCodes, InspectRequest, ShutdownRequest } from './protocol';

const engineBundle = path.resolve(__dirname, '..', 'dist', 'engine.js');

const started: ChildProcess[] = [];

function startEngine(): { child: ChildProcess; connection: MessageConnection } {
  // execArgv: [] so the engine runs as shipped (plain node on the bundle), not under tsx.
  const child = fork(engineBundle, [], { stdio: ['pipe', 'pipe', 'pipe', 'ipc'], execArgv: [] });
  started.push(child);
  const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  connection.listen();
  return { child, connection };
}

describe('engine process (dist/engine.js)', () => {
  afterEach(() => {
    for (const c of started.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  });

  it('answers inspect of a missing file with a clear InvalidModel error, then shuts down cleanly', async () => {
    const { child, connection } = startEngine();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await assert.rejects(
      connection.sendRequest(InspectRequest, { modelPath: '/nonexistent/model.gguf' }),
      (err: { code: number; message: string }) => err.code === EngineErrorCodes.InvalidModel && /nonexistent\/model\.gguf/.test(err.message),
    );
    await connection.sendRequest(ShutdownRequest);
    assert.equal(await exited, 0);
    connection.dispose();
  });

  it('rejects a request with wrong parameter types instead of crashing', async () => {
    const { child, connection } = startEngine();
    await assert.rejects(connection.sendRequest(InspectRequest.method, { modelPath: 42 }), /modelPath: string/);
    await assert.rejects(connection.sendRequest('no/such/method', {}), /Unhandled method/);
    await connection.sendRequest(ShutdownRequest);
    connection.dispose();
    child.kill();
  });
});
