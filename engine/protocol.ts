// The JSON-RPC 2.0 protocol between the extension host (src/) and the engine process
// (engine/), typed once and used by both ends. Transport: the child's stdio, framed by
// vscode-jsonrpc. The extension imports this file for types and request objects only.
import { RequestType, RequestType0 } from 'vscode-jsonrpc';
import type { InspectReport } from './native-addon';

export type { InspectReport };

export interface InspectParams {
  modelPath: string;
}

export const InspectRequest = new RequestType<InspectParams, InspectReport, void>('smallthinker/inspect');

/** Asks the engine to finish its work and exit cleanly. */
export const ShutdownRequest = new RequestType0<void, void>('shutdown');

/** Error codes the engine uses besides JSON-RPC's standard ones. */
export const EngineErrorCodes = {
  InvalidModel: -32001,
} as const;
