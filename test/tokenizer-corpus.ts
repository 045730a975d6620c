// A tokenisation corpus: real source files from node_modules in several languages, picked
// deterministically, plus hand-written edge cases (Unicode, emoji, CRLF, whitespace, specials).
import fs from 'node:fs';
import path from 'node:path';

const EXTENSIONS = ['.js', '.ts', '.json', '.md', '.py', '.c', '.h', '.cc', '.cpp', '.css', '.html', '.sh', '.yml', '.mjs', '.cjs', '.txt'];
const MAX_BYTES = 20_000;

export function sourceFiles(count: number): Array<{ name: string; text: string }> {
  const root = path.resolve(__dirname, '..', 'node_modules');
  const byExt = new Map<string, string[]>();
  const walk = (dir: string, depth: number) => {
    if (depth > 6) return;
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) { if (!e.name.startsWith('.') && e.name !== 'llama') walk(p, depth + 1); continue; }
      const ext = EXTENSIONS.find((x) => e.name.endsWith(x));
      if (!ext) continue;
      const list = byExt.get(ext) ?? [];
      if (list.length < 400) list.push(p);
      byExt.set(ext, list);
    }
  };
  walk(root, 0);
  // Round-robin over the extensions so every language is represented.
  const picked: string[] = [];
  const lists = [...byExt.values()].filter((l) => l.length);
  for (let i = 0; picked.length < count && lists.some((l) => i < l.length); i++) {
    for (const l of lists) if (i * 7 < l.length && picked.length < count) picked.push(l[(i * 7) % l.length]);
  }
  return picked.map((p) => {
    const buf = fs.readFileSync(p).subarray(0, MAX_BYTES);
    return { name: path.relative(root, p), text: buf.toString('utf8') };
  });
}

export const EDGE_CASES: string[] = [
  '', ' ', '  ', '\n', '\r\n', '\t\t', 'a', 'Hello, world!', "it's don't I'LL we've they'RE",
  'x = 12345678 + 3.14159;', '  indented\n    more\n\ttabbed\r\n\r\nwindows',
  'héllo wörld — naïve café', '日本語のテキスト、中文文本，한국어', 'emoji 🤖🚀 family 👨‍👩‍👧 flags 🇫🇷',
  'combining é (e + U+0301), zalgo ḁ̶̵͓', 'Ωμέγα ΑΒΓ кириллица', 'عربي עברית', '١٢٣ ٣ ⅷ ① ²',
  'trailing spaces   \n   \n', 'nbsp\u00a0and\u3000ideographic', 'zero\u200bwidth', '<|im_start|>user\nhi<|im_end|>\n',
  'literal <|endoftext|> in text', 'html <s>struck</s> and <b>bold</b>', '```ts\nconst x = 1;\n```',
  '<|im_start|><|im_start|><|im_end|>', '<|im_<|im_end|>start|>', '<|<|endoftext|>|>x', '<think></think><tool_call>\n</tool_call>',
  '<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>', '<|im_end|'.repeat(20), '    '.repeat(50), '\n\n\n\n', 'a'.repeat(3000), '\u{1F600}'.repeat(10), 'mixed123abc456', '$$$$%%%%^^^^',
];
