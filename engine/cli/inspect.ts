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

export function describe(report: InspectReport): string {
  const typeCounts = new Map<string, number>();
  for (const t of report.tensors) typeCounts.set(t.type, (typeCounts.get(t.type) ?? 0) + 1);
  const lines = [
    `architecture   ${report.arch} (${report.flavour} flavour, GGUF v${report.gguf_version})`,
    ...Object.entries(report.hparams).map(([k, v]) => `${k.padEnd(14)} ${v}`),
    `tensors        ${report.tensors.length} (${[...typeCounts].map(([t, c]) => `${c} ${t}`).join(', ')})`,
    `file size      ${formatBytes(report.file_bytes)}`,
    `est. memory    ${formatBytes(report.estimated_bytes)}`,
    ...report.warnings.map((w) => `warning        ${w}`),
  ];
  return lines.join('\n');
}

export function runInspect(addon: NativeAddon, modelPath: string, json: boolean): string {
  const report = addon.inspect(modelPath);
  return json ? JSON.stringify(report) : describe(report);
}
