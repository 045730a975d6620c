// Loads the native engine addon. Only the engine process and the CLI load it, never the
// extension host (SPEC §1). The addon's surface is typed here, once.
import path from 'node:path';
import fs from 'node:fs';

/** What `inspect` reports about a GGUF file (SPEC §3, `inspect --json`). */
export interface InspectReport {
  arch: string;
  flavour: 'upstream' | 'powerinfer';
  hparams: Record<string, number | boolean | string>;
  tensors: Array<{ name: string; type: string; shape: number[]; offset: number; bytes: number }>;
  file_bytes: number;
  estimated_bytes: number;
  gguf_version: number;
  warnings: string[];
}

export interface NativeAddon {
  /** Validates a SmallThinker GGUF file without reading its tensor data; throws a clear Error. */
  inspect(modelPath: string): InspectReport;
}

let cached: NativeAddon | undefined;

/** Candidate locations: next to the bundle (VSIX: dist/../native/...) and in the source tree. */
function addonCandidates(): string[] {
  const override = process.env.SMALLTHINKER_ADDON;
  const roots = [path.resolve(__dirname, '..'), path.resolve(__dirname, '..', '..'), process.cwd()];
  const found = roots.map((r) => path.join(r, 'native', 'build', 'Release', 'smallthinker.node'));
  return override ? [override, ...found] : found;
}

export function loadNativeAddon(): NativeAddon {
  if (cached) return cached;
  const candidates = addonCandidates();
  const file = candidates.find((c) => fs.existsSync(c));
  if (!file) {
    throw new Error(`the native engine is not built (looked for ${candidates.join(', ')}); run \`npm install\``);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  cached = require(file) as NativeAddon;
  return cached;
}
