// The engine child process: a JSON-RPC server on stdio. It is the only process besides the
// CLI that loads the native addon, so a crash in native code never takes the editor down.
// `--connect PORT` speaks the same protocol over a TCP connection to 127.0.0.1:PORT instead:
// for hosts whose stdio cannot be pipes (Windows Node under Wine, where the cross-platform
// tests run it); the editor always uses stdio.
import net from 'node:net';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { ShutdownRequest } from './protocol';
import { loadNativeAddon } from './native-addon';
import { EngineServer } from './server';

function connectPort(): number | undefined {
  const i = process.argv.indexOf('--connect');
  if (i < 0) return undefined;
  const port = Number(process.argv[i + 1]);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    process.stderr.write(`engine: --connect needs a port number, got ${process.argv[i + 1]}\n`);
    process.exit(2);
  }
  return port;
}

const port = connectPort();
const socket = port === undefined ? undefined : net.connect({ host: '127.0.0.1', port });
socket?.on('error', (e) => {
  process.stderr.write(`engine: connection to 127.0.0.1:${port} failed: ${e.message}\n`);
  process.exit(1);
});
const input = socket ?? process.stdin;
const connection = createMessageConnection(new StreamMessageReader(input), new StreamMessageWriter(socket ?? process.stdout));

// stdout carries the protocol: anything else a dependency prints must go to stderr.
console.log = console.error;
console.info = console.error;

new EngineServer(connection, loadNativeAddon).register();

connection.onRequest(ShutdownRequest, () => {
  // Let the reply flush, then leave by letting the event loop drain (an explicit exit could
  // cut the pending write); a timer makes sure a stuck handle cannot keep us alive.
  // Over a socket, which carries the reply too, the peer closes it once it has the reply.
  setImmediate(() => {
    if (!socket) {
      connection.dispose();
      process.stdin.destroy();
    }
    setTimeout(() => process.exit(0), 2000).unref();
  });
});

// A malformed message is reported and skipped; the connection stays up.
connection.onError(([error]) => process.stderr.write(`engine: bad message: ${error.message}\n`));
connection.onClose(() => process.exit(0));
connection.listen();
