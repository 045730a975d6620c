// Cuts the completion cases (v1.json) out of real source files that every set-up machine has:
// packages node_modules installs (npm ci) and Debian's Python standard library. Run it only to
// make a new version of the set: `npx tsx eval/completion-cases/cut.ts > eval/completion-cases/v2.json`.
// Each case records the file it came from, the package, its version and its licence.
//
// The cut: in each file, lines that hold code (not blank, not only a comment, 12 to 100
// characters) are picked with a fixed-seed generator, at least 8 lines apart. Half the cases
// put the cursor after the line's indentation (the whole line is to be written), half at a
// word boundary near the middle of the line (the rest of it). The expected text is the rest of
// that line. The prefix is up to 1,500 characters before the cursor, cut at a line start; the
// suffix up to 500 characters after the line.
import fs from 'node:fs';
import path from 'node:path';
import type { CompletionCase } from '../../engine/cli/eval-completions';

interface Source {
  file: string;
  language: string;
  packageJson?: string;
  package?: string;
  licence?: string;
}

const root = path.resolve(__dirname, '..', '..');
const SOURCES: Source[] = [
  { file: 'node_modules/@huggingface/jinja/src/lexer.ts', language: 'typescript', packageJson: 'node_modules/@huggingface/jinja/package.json' },
  { file: 'node_modules/@huggingface/jinja/src/parser.ts', language: 'typescript', packageJson: 'node_modules/@huggingface/jinja/package.json' },
  { file: 'node_modules/semver/classes/range.js', language: 'javascript', packageJson: 'node_modules/semver/package.json' },
  { file: 'node_modules/commander/lib/help.js', language: 'javascript', packageJson: 'node_modules/commander/package.json' },
  { file: '/usr/lib/python3.11/textwrap.py', language: 'python', package: 'CPython 3.11 standard library (Debian python3.11)', licence: 'PSF-2.0' },
  { file: '/usr/lib/python3.11/shlex.py', language: 'python', package: 'CPython 3.11 standard library (Debian python3.11)', licence: 'PSF-2.0' },
  { file: 'node_modules/flatted/golang/pkg/flatted/flatted.go', language: 'go', packageJson: 'node_modules/flatted/package.json' },
  { file: 'node_modules/node-llama-cpp/llama/addon/AddonContext.cpp', language: 'cpp', packageJson: 'node_modules/node-llama-cpp/package.json' },
];
const PER_FILE = 6;
const PREFIX_CHARS = 1500;
const SUFFIX_CHARS = 500;

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

const COMMENT = /^\s*(\/\/|#|\/\*|\*|"""|''')/;

function cut(source: Source, seed: number): CompletionCase[] {
  const abs = path.isAbsolute(source.file) ? source.file : path.join(root, source.file);
  const text = fs.readFileSync(abs, 'utf8').replace(/\r\n/g, '\n');
  const lines = text.split('\n');
  let pkg = source.package ?? '';
  let licence = source.licence ?? '';
  if (source.packageJson) {
    const p = JSON.parse(fs.readFileSync(path.join(root, source.packageJson), 'utf8')) as { name: string; version: string; license: string };
    pkg = `${p.name}@${p.version} (npm)`;
    licence = p.license;
  }
  const candidates = lines.flatMap((l, i) => {
    const code = l.trim();
    return i > 10 && code.length >= 12 && code.length <= 100 && !COMMENT.test(l) ? [i] : [];
  });
  const random = rng(seed);
  const picked: number[] = [];
  for (let tries = 0; picked.length < PER_FILE && tries < 1000; tries++) {
    const i = candidates[Math.floor(random() * candidates.length)];
    if (picked.every((p) => Math.abs(p - i) >= 8)) picked.push(i);
  }
  picked.sort((a, b) => a - b);
  return picked.map((i, k) => {
    const line = lines[i];
    const indent = line.length - line.trimStart().length;
    let column = indent;
    if (k % 2 === 1) {
      // A word boundary near the middle: after a space, '(' or '.', before a word character.
      const mid = indent + Math.floor((line.length - indent) / 2);
      for (let c = mid; c > indent; c--) {
        if (/[\s(.,]/.test(line[c - 1]) && /\w/.test(line[c])) {
          column = c;
          break;
        }
      }
    }
    const before = lines.slice(0, i).join('\n') + '\n' + line.slice(0, column);
    let prefix = before.slice(-PREFIX_CHARS);
    if (prefix.length < before.length) prefix = prefix.slice(prefix.indexOf('\n') + 1);
    const after = lines.slice(i + 1).join('\n');
    let suffix = '\n' + after.slice(0, SUFFIX_CHARS);
    if (after.length > SUFFIX_CHARS) suffix = suffix.slice(0, suffix.lastIndexOf('\n') + 1);
    return {
      id: `${path.basename(source.file)}:${i + 1}${column > indent ? `:${column + 1}` : ''}`,
      language: source.language,
      source: { file: source.file.replace(/^node_modules\//, ''), line: i + 1, package: pkg, licence },
      prefix, suffix, expected: line.slice(column),
    };
  });
}

const cases = SOURCES.flatMap((s, i) => cut(s, 1000 + i));
process.stdout.write(`${JSON.stringify({ version: 1, description: 'Completion cases cut by eval/completion-cases/cut.ts', cases }, null, 1)}\n`);
