// Where the platform says the machine runs on battery: sysfs trees, pmset and PowerShell output
// as each platform writes them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { linuxPowerSource, parsePmset, parseWin32BatteryStatus, PowerWatch, type PowerSource } from './power';
import { tempDir } from '../test/support/temp-dir';

function sysfs(supplies: Record<string, Record<string, string>>): string {
  const root = tempDir('st-power-');
  for (const [name, files] of Object.entries(supplies)) {
    fs.mkdirSync(path.join(root, name));
    for (const [f, v] of Object.entries(files)) fs.writeFileSync(path.join(root, name, f), `${v}\n`);
  }
  return root;
}

describe('power source', () => {
  it('Linux: on battery only when a battery discharges and no supply is online', () => {
    assert.equal(linuxPowerSource(sysfs({ AC: { type: 'Mains', online: '0' }, BAT0: { type: 'Battery', status: 'Discharging' } })), 'battery');
    assert.equal(linuxPowerSource(sysfs({ AC: { type: 'Mains', online: '1' }, BAT0: { type: 'Battery', status: 'Charging' } })), 'ac');
    assert.equal(linuxPowerSource(sysfs({ ucsi: { type: 'USB', online: '1' }, BAT1: { type: 'Battery', status: 'Discharging' } })), 'ac');
    assert.equal(linuxPowerSource(sysfs({})), 'ac', 'a desktop without a battery');
    assert.equal(linuxPowerSource('/nonexistent/power_supply'), 'unknown');
  });

  it('macOS: pmset names the source on its first line', () => {
    assert.equal(parsePmset("Now drawing from 'Battery Power'\n -InternalBattery-0 (id=1234)\t87%; discharging; 5:12 remaining present: true\n"), 'battery');
    assert.equal(parsePmset("Now drawing from 'AC Power'\n -InternalBattery-0 (id=1234)\t100%; charged; 0:00 remaining present: true\n"), 'ac');
    assert.equal(parsePmset(''), 'unknown');
  });

  it('Windows: BatteryStatus 1 is discharging; no battery is a desktop', () => {
    assert.equal(parseWin32BatteryStatus('1\r\n'), 'battery');
    assert.equal(parseWin32BatteryStatus('2\r\n'), 'ac');
    assert.equal(parseWin32BatteryStatus(''), 'ac');
    assert.equal(parseWin32BatteryStatus('Get-CimInstance : Access denied'), 'unknown');
  });

  it('asks at most once a minute and tells when the source changes', async () => {
    let now = 0;
    let answer: PowerSource = 'ac';
    let asked = 0;
    const changes: PowerSource[] = [];
    const watch = new PowerWatch(async () => (asked++, answer), (s) => changes.push(s), 60_000, () => now);
    assert.equal(watch.current(), 'unknown', 'nothing known before the first answer');
    await new Promise((r) => setImmediate(r));
    assert.equal(watch.current(), 'ac');
    answer = 'battery';
    now += 30_000;
    watch.current();
    await new Promise((r) => setImmediate(r));
    assert.equal(asked, 1, 'not asked again within the minute');
    now += 30_000;
    watch.current();
    await new Promise((r) => setImmediate(r));
    assert.equal(watch.current(), 'battery');
    assert.deepEqual(changes, ['ac', 'battery']);
  });
});
