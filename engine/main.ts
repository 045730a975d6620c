// The engine child process: a JSON-RPC server on stdio. It is the only process besides the
// CLI that loads the native addon, so a crash in native code never takes the editor down.
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { ShutdownRequest } from './protocol';
import { loadNativeAddon } from './native-addon';
import { EngineServer } from './server';

const connection = createMessageConnection(
  new StreamMessageReader(process.stdin),
  new StreamMessageWriter(process.stdout),
);

// stdout carries the protocol: anything else a dependency prints must go to stderr.
console.log = console.error;
console.info = console.error;

new EngineServer(connection, loadNativeAddon).register();

connection.onRequest(ShutdownRequest, () => {
  // Let the reply flush, then leave by letting the event loop drain (an explicit exit could
  // cut the pending write); a timer makes sure a stuck handle cannot keep us alive.
  setImmediate(() => {
    connection.dispose();
    process.stdin.destroy();
    setTimeout(() => process.exit(0), 2000).unref();
  });
});

// A malformed message is reported and skipped; the connection stays up.
connection.onError(([error]) => process.stderr.write(`engine: bad message: ${error.message}\n`));
connection.onClose(() => process.exit(0));
connection.listen();
