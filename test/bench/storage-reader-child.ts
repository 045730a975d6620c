// Reads a model file the way the expert cache does (random matrices, bypassing the page cache)
// in its own process, at a given pace, until killed; prints what it read each second as one
// JSON line. The memory benchmark runs it beside an engine that reads nothing, to measure what
// that much reading costs a computation on this machine (--storage-interference).
//   tsx test/bench/storage-reader-child.ts MODEL CHUNK_BYTES THREADS PACE_BYTES_PER_S
import { loadNativeAddon } from '../../engine/native-addon';

const [model, chunk, threads, pace] = process.argv.slice(2);
const addon = loadNativeAddon();
for (;;) {
  const r = addon.storageReads(model, Number(chunk), Number(threads), 1, Number(pace));
  process.stdout.write(`${JSON.stringify({ bytes: r.bytes, seconds: r.seconds })}\n`);
}
