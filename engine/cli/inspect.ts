// `smallthinker inspect MODEL [--json]`: validates a GGUF file and describes it (docs/cli.md).
import type { InspectReport, NativeAddon } from '../native-addon';

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 2)} ${units[u]}`;
}

/**
 * The file's mix of weight types: for each type, the tensors that have it, by role (the name
 * without its `blk.N.` and `.weight`) with how many layers, largest share first. A
 * llama-quantize preset such as Q4_K_M shows up as mostly Q4_K with a few roles kept wider.
 */
export function weightMix(report: InspectReport): Record<string, Record<string, number>> {
  const byType = new Map<string, { bytes: number; roles: Map<string, number> }>();
  for (const t of report.tensors) {
    const role = t.name.replace(/^blk\.\d+\./, '').replace(/\.weight$/, '');
    const entry = byType.get(t.type) ?? { bytes: 0, roles: new Map<string, number>() };
    entry.bytes += t.bytes;
    entry.roles.set(role, (entry.roles.get(role) ?? 0) + 1);
    byType.set(t.type, entry);
  }
  return Object.fromEntries([...byType].sort((a, b) => b[1].bytes - a[1].bytes)
    .map(([type, { roles }]) => [type, Object.fromEntries(roles)]));
}

/** Tensors some files carry that the engine reads past, with what they are. */
const UNUSED_TENSORS: Record<string, string> = {
  'lm_head_profiler.weight': "PowerInfer's predictor of which output rows a token needs (for a sparse output layer); not used: the output layer is computed whole",
};
export function unusedTensors(report: InspectReport): Array<{ name: string; what: string }> {
  return report.tensors.filter((t) => UNUSED_TENSORS[t.name]).map((t) => ({ name: t.name, what: UNUSED_TENSORS[t.name] }));
}

export function describe(report: InspectReport): string {
  const mix = Object.entries(weightMix(report)).map(([type, roles]) =>
    `${type}: ${Object.entries(roles).map(([role, n]) => (n > 1 ? `${role} ×${n}` : role)).join(', ')}`);
  const lines = [
    `architecture   ${report.arch} (${report.flavour} flavour, GGUF v${report.gguf_version})`,
    ...Object.entries(report.hparams).map(([k, v]) => `${k.padEnd(14)} ${v}`),
    `tensors        ${report.tensors.length}`,
    ...mix.map((m, i) => `${i === 0 ? 'weight types  ' : '              '} ${m}`),
    ...unusedTensors(report).map((t) => `not used       ${t.name}: ${t.what}`),
    `file size      ${formatBytes(report.file_bytes)}`,
    `est. memory    ${formatBytes(report.estimated_bytes)}`,
    ...report.warnings.map((w) => `warning        ${w}`),
  ];
  return lines.join('\n');
}

export function runInspect(addon: NativeAddon, modelPath: string, json: boolean): string {
  const report = addon.inspect(modelPath);
  return json ? JSON.stringify({ ...report, weight_types: weightMix(report), unused_tensors: unusedTensors(report) }) : describe(report);
}
