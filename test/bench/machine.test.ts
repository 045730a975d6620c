// The benchmark tables' machine line: which CPU (family and model from CPUID, since a VM's
// model name may be only "AMD EPYC") and which caches, from the OS or else from CPUID.
import assert from 'node:assert/strict';
import { loadNativeAddon } from '../../engine/native-addon';
import { cacheList, cpuName, freshMemoryText, machineDescription } from './machine';

const zen5 = { vendor: 'AuthenticAMD', family: 26, model: 2, stepping: 1, caches: [
  { level: 1, kind: 'd' as const, bytes: 48 * 1024 },
  { level: 1, kind: 'i' as const, bytes: 32 * 1024 },
  { level: 2, kind: 'u' as const, bytes: 1024 * 1024 },
  { level: 3, kind: 'u' as const, bytes: 1016 * 512 * 1024 },
] };

describe('the benchmark machine line', () => {
  it('names the CPU with its family, model and stepping when CPUID tells them', () => {
    assert.equal(cpuName('AMD EPYC', zen5), 'AMD EPYC (family 26 model 2 stepping 1)');
    assert.equal(cpuName('Apple M2', null), 'Apple M2');
    assert.equal(cpuName(undefined, null), 'cpu');
  });

  it("lists the OS's caches when it has them, else CPUID's marked as such, else unknown", () => {
    assert.equal(cacheList(['L1d 48K', 'L2 1024K'], zen5.caches), 'L1d 48K, L2 1024K');
    assert.equal(cacheList([], zen5.caches), 'L1d 48 KiB, L1i 32 KiB, L2 1 MiB, L3 508 MiB (CPUID)');
    assert.equal(cacheList([], []), 'unknown');
  });

  it('reads this CPU: on x86 a vendor, a family and a level-1 data cache', function () {
    const id = loadNativeAddon().cpuIdentity();
    if (process.arch !== 'x64') {
      assert.equal(id, null);
      return;
    }
    assert.ok(id, 'CPUID answers on x86');
    assert.match(id.vendor, /^[\x20-\x7e]{12}$/);
    assert.ok(id.family >= 6, `family ${id.family}`);
    const l1d = id.caches.find((c) => c.level === 1 && c.kind === 'd');
    assert.ok(l1d && l1d.bytes >= 16 * 1024 && l1d.bytes <= 1024 * 1024, `L1d ${JSON.stringify(l1d)}`);
    assert.ok(id.caches.every((c, i) => i === 0 || c.level >= id.caches[i - 1].level), 'caches in level order');
    assert.notEqual(machineDescription().caches, 'unknown');
  });

  it('says how fast fresh memory comes, 10 s after a release and at once', () => {
    assert.equal(freshMemoryText({ reused_bytes_per_s: 16.84e9, after_release_bytes_per_s: 0.94e9 }),
      'fresh memory 0.9 GB/s 10 s after a release (16.8 at once)');
  });

  it('commits fresh memory on this machine and refuses sizes out of range', () => {
    const rate = loadNativeAddon().freshMemoryRate(64, 2);
    // Any machine zeroes far more than 10 MB a second; 0, NaN or infinity would be a broken probe.
    assert.ok(Number.isFinite(rate) && rate > 1e7, `${rate} bytes/s`);
    assert.throws(() => loadNativeAddon().freshMemoryRate(0, 1), RangeError);
    assert.throws(() => loadNativeAddon().freshMemoryRate(64, 0), RangeError);
  });
});
