// The engine child process: a JSON-RPC server on stdio. It is the only process besides the
// CLI that loads the native addon, so a crash in native code never takes the editor down.
import { createMessageConnection, ResponseError, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { EngineErrorCodes, InspectRequest, ShutdownRequest } from './protocol';
import { loadNativeAddon } from './native-addon';

const connection = createMessageConnection(
  new StreamMessageReader(process.stdin),
  new StreamMessageWriter(process.stdout),
);

// stdout carries the protocol: anything else a dependency prints must go to stderr.
console.log = console.error;
console.info = console.error;

connection.onRequest(InspectRequest, (params) => {
  if (typeof params?.modelPath !== 'string') {
    throw new ResponseError(-32602, 'inspect needs { modelPath: string }');
  }
  try {
    return loadNativeAddon().inspect(params.modelPath);
  } catch (err) {
    throw new ResponseError(EngineErrorCodes.InvalidModel, err instanceof Error ? err.message : String(err));
  }
});

connection.onRequest(ShutdownRequest, () => {
  // Let the reply flush, then leave by letting the event loop drain (an explicit exit could
  // cut the pending write); a timer makes sure a stuck handle cannot keep us alive.
  setImmediate(() => {
    connection.dispose();
    process.stdin.destroy();
    setTimeout(() => process.exit(0), 2000).unref();
  });
});

connection.onClose(() => process.exit(0));
connection.listen();
