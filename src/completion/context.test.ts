// Context from other files: the ring keeps recent chunks once each, a document's requests carry
// the same snapshot while the user types (so the prompt start holds) and a fresh one after a
// pause, and imports are found and resolved as a workspace would lay them out.
import assert from 'node:assert/strict';
import {
  chunkAround, ContextRing, ContextSnapshots, declarationsChunk, importCandidates, importSpecifiers, PAUSE_MS, RING_CAPACITY, type Chunk,
} from './context';

const chunk = (path: string, text: string, startLine = 0, endLine = startLine + 5, kind: Chunk['kind'] = 'edited'): Chunk =>
  ({ path, text, kind, startLine, endLine });

describe('completion context', () => {
  it('cuts the lines around a position, clipped to the file', () => {
    const text = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n');
    const mid = chunkAround(text, 50);
    assert.equal(mid.startLine, 38);
    assert.equal(mid.endLine, 61);
    assert.equal(mid.text.split('\n').length, 24);
    assert.equal(chunkAround(text, 2).startLine, 0);
    assert.equal(chunkAround(text, 99).endLine, 99);
    assert.equal(chunkAround('one line', 0).text, 'one line');
  });

  it('keeps the newest chunks once each: an overlapping range of the same file or the same text replaces the older', () => {
    const ring = new ContextRing();
    ring.add(chunk('a.ts', 'const a = 1;', 0, 10));
    ring.add(chunk('b.ts', 'const b = 2;', 0, 10));
    ring.add(chunk('a.ts', 'const a = 10;', 5, 15));  // overlaps a.ts 0-10
    ring.add(chunk('c.ts', '  const   b = 2;  ', 40, 50));  // b.ts's text again
    ring.add(chunk('d.ts', '   \n  '));  // blank: ignored
    assert.deepEqual(ring.forDocument('x.ts').map((c) => c.text), ['  const   b = 2;  ', 'const a = 10;']);
    assert.deepEqual(ring.forDocument('a.ts').map((c) => c.path), ['c.ts'], 'never the document itself');
    for (let i = 0; i < 40; i++) ring.add(chunk(`f${i}.ts`, `f${i}`));
    assert.equal(ring.forDocument('x.ts', 100).length, RING_CAPACITY);
    assert.equal(ring.forDocument('x.ts', 100)[0].path, 'f39.ts');
    ring.forget('f39.ts');
    assert.equal(ring.forDocument('x.ts')[0].path, 'f38.ts');
  });

  it('gives a document the same snapshot while the user types, and a fresh one after a pause', () => {
    let now = 10_000;
    const ring = new ContextRing();
    const snapshots = new ContextSnapshots(ring, 64, () => now);
    ring.add(chunk('util.ts', 'export function sum(xs) {}'));
    const first = snapshots.get('main.ts', now - PAUSE_MS);
    assert.deepEqual(first, [{ path: 'util.ts', text: 'export function sum(xs) {}' }]);
    // Typing: another file's chunk arrives, but the snapshot holds until a pause.
    ring.add(chunk('other.ts', 'export const other = 1;'));
    now += 200;
    assert.equal(snapshots.get('main.ts', now - 100), first);
    now += PAUSE_MS;
    const fresh = snapshots.get('main.ts', now - PAUSE_MS);
    assert.deepEqual(fresh.map((c) => c.path), ['other.ts', 'util.ts']);
    // Imports come after the ring's chunks, once.
    const withImports = snapshots.get('main.ts', now - PAUSE_MS, [chunk('util.ts', 'export function sum(xs) {}', 0, 0, 'imported'),
      chunk('types.ts', 'export type T = number;', 0, 0, 'imported')]);
    assert.deepEqual(withImports.map((c) => c.path), ['other.ts', 'util.ts', 'types.ts']);
  });

  it('finds the files a document imports from the workspace, not packages', () => {
    const ts = `import { sum } from './math';\nimport type { T } from "../types/index.js";\nimport React from 'react';\n` +
      `const x = require('./legacy');\nconst y = await import('./lazy');\nimport './side-effect';\n`;
    assert.deepEqual(importSpecifiers('typescript', ts).map((i) => i.specifier), ['./math', '../types/index.js', './legacy', './lazy', './side-effect']);
    const py = 'from .models import User\nfrom ..core.db import session\nimport app.settings\nfrom app.views import index\nimport os\n';
    assert.deepEqual(importSpecifiers('python', py), [
      { specifier: './models', relativeTo: 'document' }, { specifier: './../core/db', relativeTo: 'document' },
      { specifier: 'app/settings', relativeTo: 'root' }, { specifier: 'app/views', relativeTo: 'root' }, { specifier: 'os', relativeTo: 'root' },
    ]);
    assert.deepEqual(importSpecifiers('rust', 'use crate::x;'), []);
    assert.deepEqual(importCandidates('typescript', './x.js').slice(0, 3), ['./x.js', './x.ts', './x.tsx']);
    assert.deepEqual(importCandidates('python', 'app/settings'), ['app/settings.py', 'app/settings/__init__.py']);
  });

  it("offers an imported file's declarations", () => {
    const file = 'import fs from "fs";\n\nexport function sum(xs: number[]): number {\n  return xs.reduce((a, b) => a + b, 0);\n}\n' +
      'export interface Stats { mean: number }\nconst internal = 1;\n';
    assert.equal(declarationsChunk(file), 'export function sum(xs: number[]): number {\nexport interface Stats { mean: number }');
    assert.equal(declarationsChunk('x = 1\ny = 2'), 'x = 1\ny = 2', 'no declarations: the first lines');
  });
});
