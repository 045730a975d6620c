// Context from other files for inline completions, without `vscode`: a bounded ring of chunks
// (text around recent edits, what was on screen in other editors, code copied in the editor,
// the current file's imports), deduplicated, and the snapshot a document's requests carry.
// The snapshot changes only when the user pauses, so the prompt's start stays the same between
// keystrokes and the engine keeps reusing its state (engine/prompts.ts puts it first).
import type { ContextChunk } from '../../engine/protocol';

export type ChunkKind = 'edited' | 'viewed' | 'copied' | 'imported';

export interface Chunk extends ContextChunk {
  kind: ChunkKind;
  /** First and last line (0-based) in its file; -1 when it is not a range of a file (copied text). */
  startLine: number;
  endLine: number;
}

/** Lines a chunk around a position holds. */
export const CHUNK_LINES = 24;
/** Chunks the ring keeps. */
export const RING_CAPACITY = 16;
/** Chunks a completion request carries, newest first (the engine fits them into its token budget). */
export const REQUEST_CHUNKS = 8;
/** Characters of one chunk at most (a minified line would otherwise fill the budget). */
export const CHUNK_CHARS = 3000;
/** How long the user must stop typing before a document's context snapshot is refreshed. */
export const PAUSE_MS = 1000;

/** The lines around `line` of a text: CHUNK_LINES of them, clipped to the text. */
export function chunkAround(text: string, line: number, lines = CHUNK_LINES): { text: string; startLine: number; endLine: number } {
  const all = text.split('\n');
  const start = Math.max(0, Math.min(line - Math.floor(lines / 2), all.length - lines));
  const end = Math.min(all.length - 1, start + lines - 1);
  return { text: all.slice(start, end + 1).join('\n').slice(0, CHUNK_CHARS), startLine: start, endLine: end };
}

export class ContextRing {
  private chunks: Chunk[] = [];  // oldest first
  private changes = 0;

  constructor(private readonly capacity = RING_CAPACITY) {}

  /** A counter that moves whenever the ring changes. */
  get version(): number {
    return this.changes;
  }

  /**
   * Adds a chunk as the newest. One that overlaps a chunk of the same file replaces it; the
   * same text (whitespace aside) is kept once; blank text is ignored.
   */
  add(chunk: Chunk): void {
    const text = chunk.text.slice(0, CHUNK_CHARS);
    if (text.trim() === '') return;
    const norm = (t: string) => t.replace(/\s+/g, ' ').trim();
    const same = norm(text);
    this.chunks = this.chunks.filter((c) => !(
      norm(c.text) === same ||
      (c.path === chunk.path && c.startLine >= 0 && chunk.startLine >= 0 && c.startLine <= chunk.endLine && chunk.startLine <= c.endLine)
    ));
    this.chunks.push({ ...chunk, text });
    if (this.chunks.length > this.capacity) this.chunks.splice(0, this.chunks.length - this.capacity);
    this.changes++;
  }

  /** Forgets a file's chunks (it was deleted or closed for good). */
  forget(path: string): void {
    const before = this.chunks.length;
    this.chunks = this.chunks.filter((c) => c.path !== path);
    if (this.chunks.length !== before) this.changes++;
  }

  /** The chunks for a completion in `path`: from other files only, newest first, at most `max`. */
  forDocument(path: string, max = REQUEST_CHUNKS): Chunk[] {
    return this.chunks.filter((c) => c.path !== path).reverse().slice(0, max);
  }
}

/**
 * What a document's requests carry: the ring's chunks as they were when the user last paused,
 * kept while typing goes on, so that the prompt's start does not move with every keystroke.
 */
export class ContextSnapshots {
  private readonly snapshots = new Map<string, { version: string; chunks: ContextChunk[] }>();

  constructor(private readonly ring: ContextRing, private readonly maxDocuments = 64, private readonly now: () => number = Date.now) {}

  /**
   * The chunks for a request in `path`. `lastEditAt`: when the user last typed (any document).
   * `extra`: chunks that are not in the ring (the document's imports), put after the ring's.
   */
  get(path: string, lastEditAt: number, extra: readonly Chunk[] = []): ContextChunk[] {
    const held = this.snapshots.get(path);
    const paused = this.now() - lastEditAt >= PAUSE_MS;
    const version = `${this.ring.version}|${extra.map((e) => `${e.path}:${e.text.length}`).join('|')}`;
    if (held && (!paused || held.version === version)) return held.chunks;
    const seen = new Set<string>();
    const chunks: ContextChunk[] = [];
    for (const c of [...this.ring.forDocument(path), ...extra.filter((e) => e.path !== path)]) {
      const key = c.text.replace(/\s+/g, ' ').trim();
      if (seen.has(key) || chunks.length >= REQUEST_CHUNKS) continue;
      seen.add(key);
      chunks.push({ path: c.path, text: c.text });
    }
    this.snapshots.delete(path);
    this.snapshots.set(path, { version, chunks });
    if (this.snapshots.size > this.maxDocuments) this.snapshots.delete(this.snapshots.keys().next().value as string);
    return chunks;
  }
}

/**
 * The files a document imports by a path inside the workspace, as specifiers relative to the
 * document or the workspace root: JavaScript/TypeScript `import … from './x'`, `require('./x')`
 * and `import('./x')`; Python `from .x import …`, `from pkg.mod import …`, `import pkg.mod`.
 * Packages (bare specifiers) are left out: their code is not the user's.
 */
export function importSpecifiers(languageId: string, text: string): Array<{ specifier: string; relativeTo: 'document' | 'root' }> {
  const out: Array<{ specifier: string; relativeTo: 'document' | 'root' }> = [];
  const add = (specifier: string, relativeTo: 'document' | 'root') => {
    if (!out.some((o) => o.specifier === specifier)) out.push({ specifier, relativeTo });
  };
  if (/^(typescript|javascript)(react)?$/.test(languageId)) {
    const re = /(?:\bfrom\s*|\brequire\s*\(\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
    for (const m of text.matchAll(re)) add(m[1], 'document');
  } else if (languageId === 'python') {
    for (const m of text.matchAll(/^\s*from\s+(\.+)([\w.]*)\s+import\b/gm)) {
      const up = '../'.repeat(m[1].length - 1);
      add(`./${up}${m[2].replace(/\./g, '/')}`.replace(/\/$/, ''), 'document');
    }
    for (const m of text.matchAll(/^\s*(?:from\s+([A-Za-z_][\w.]*)\s+import\b|import\s+([A-Za-z_][\w.]*))/gm)) {
      add((m[1] ?? m[2]).replace(/\./g, '/'), 'root');
    }
  }
  return out.slice(0, 16);
}

/** Candidate file paths for a specifier (the caller keeps the first that exists). */
export function importCandidates(languageId: string, specifier: string): string[] {
  if (languageId === 'python') return [`${specifier}.py`, `${specifier}/__init__.py`];
  const exts = ['.ts', '.tsx', '.js', '.jsx', '.mjs', '.cjs'];
  // A TypeScript file importing './x.js' means './x.ts'.
  const base = specifier.replace(/\.(js|jsx|mjs|cjs)$/, '');
  return [specifier, ...exts.map((e) => base + e), ...exts.map((e) => `${base}/index${e}`)];
}

/**
 * What an imported file offers the code that imports it: its declarations (exported names,
 * functions, classes, types), up to CHUNK_LINES lines, or its first lines when none are found.
 */
export function declarationsChunk(text: string): string {
  const lines = text.split('\n');
  const decl = /^(export\s|(async\s+)?function\s|class\s|interface\s|type\s|enum\s|def\s|async\s+def\s|module\.exports|exports\.)/;
  const picked = lines.filter((l) => decl.test(l)).slice(0, CHUNK_LINES);
  return (picked.length > 0 ? picked : lines.slice(0, CHUNK_LINES)).join('\n').slice(0, CHUNK_CHARS);
}
