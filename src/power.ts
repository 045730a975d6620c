// Whether the machine runs on battery, where the platform says so: Linux's power-supply class in
// sysfs, macOS's `pmset -g batt`, Windows' Win32_Battery through PowerShell. Anything else, or
// a failure to ask, is 'unknown', which pauses nothing.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export type PowerSource = 'battery' | 'ac' | 'unknown';

/** Linux: on battery when a battery discharges and no mains or USB supply is online. */
export function linuxPowerSource(root = '/sys/class/power_supply'): PowerSource {
  let entries: string[];
  try {
    entries = fs.readdirSync(root);
  } catch {
    return 'unknown';
  }
  const read = (dir: string, file: string) => {
    try {
      return fs.readFileSync(path.join(root, dir, file), 'utf8').trim();
    } catch {
      return '';
    }
  };
  let discharging = false;
  for (const dir of entries) {
    const type = read(dir, 'type');
    if ((type === 'Mains' || type === 'USB') && read(dir, 'online') === '1') return 'ac';
    if (type === 'Battery' && read(dir, 'status') === 'Discharging') discharging = true;
  }
  return discharging ? 'battery' : 'ac';
}

/** macOS: the first line of `pmset -g batt` names the source ("Now drawing from 'Battery Power'"). */
export function parsePmset(output: string): PowerSource {
  if (/'Battery Power'/.test(output)) return 'battery';
  if (/'AC Power'|'UPS Power'/.test(output)) return 'ac';
  return 'unknown';
}

/** Windows: Win32_Battery.BatteryStatus 1 is "discharging"; no battery at all is a desktop on AC. */
export function parseWin32BatteryStatus(output: string): PowerSource {
  const codes = output.split(/\s+/).filter(Boolean).map(Number);
  if (codes.length === 0) return 'ac';
  if (codes.some((c) => Number.isNaN(c))) return 'unknown';
  return codes.includes(1) ? 'battery' : 'ac';
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 5000, windowsHide: true }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

/** Asks the platform once. */
export async function powerSource(platform: NodeJS.Platform = process.platform): Promise<PowerSource> {
  try {
    if (platform === 'linux') return linuxPowerSource();
    if (platform === 'darwin') return parsePmset(await run('pmset', ['-g', 'batt']));
    if (platform === 'win32') {
      return parseWin32BatteryStatus(await run('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command',
        '(Get-CimInstance -ClassName Win32_Battery).BatteryStatus']));
    }
  } catch {
    // fall through
  }
  return 'unknown';
}

/**
 * The power source, asked again at most once a minute and only while someone wants it (the
 * pause-on-battery setting is on), so that the completion path reads a cached value and never
 * waits for PowerShell.
 */
export class PowerWatch {
  private source: PowerSource = 'unknown';
  private askedAt = -Infinity;
  private asking = false;

  constructor(private readonly ask: () => Promise<PowerSource> = () => powerSource(), private readonly onChange: (s: PowerSource) => void = () => {},
    private readonly everyMs = 60_000, private readonly now: () => number = Date.now) {}

  /** The last known source; starts a fresh look in the background when the last one is old. */
  current(): PowerSource {
    if (!this.asking && this.now() - this.askedAt >= this.everyMs) {
      this.asking = true;
      this.askedAt = this.now();
      void this.ask().then((s) => {
        if (s !== this.source) {
          this.source = s;
          this.onChange(s);
        }
      }, () => undefined).finally(() => (this.asking = false));
    }
    return this.source;
  }
}
