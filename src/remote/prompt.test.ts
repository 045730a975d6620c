// What a completion asks a remote server, per format, and that typing keeps its start.
import assert from 'node:assert/strict';
import type { CompletionParams } from '../../engine/protocol';
import { PREFIX_STEP_CHARS, remoteCompletionAsk, REMOTE_PREFIX_CHARS, remoteSuffix, stablePrefix } from './prompt';

const params = (over: Partial<CompletionParams> = {}): CompletionParams => ({
  documentId: 'file:///w/a.py', languageId: 'python', filePath: 'a.py', prefix: 'def add(a, b):\n    return ', suffix: ')\n\nprint(add(1, 2))\n',
  maxTokens: 32, maxLines: 1, ...over,
});

describe('remote completion prompts', () => {
  it('prefix: the context and the path as comments, then the code before the cursor; one line stops at a newline', () => {
    const ask = remoteCompletionAsk(params({ format: 'prefix', context: [{ path: 'lib/m.py', text: 'X = 1\n' }] }));
    assert.equal(ask.prompt, '# Compare this snippet from lib/m.py:\n# X = 1\n# a.py\ndef add(a, b):\n    return ');
    assert.equal(ask.infill, undefined);
    assert.deepEqual(ask.stop, ['\n']);
    assert.deepEqual(remoteCompletionAsk(params({ maxLines: 8 })).stop, []);
  });

  it('fim-psm and fim-spm: the suffix from the next line on, around the code, in the order of each', () => {
    assert.equal(remoteCompletionAsk(params({ format: 'fim-psm' })).prompt,
      '<|fim_prefix|># a.py\ndef add(a, b):\n    return <|fim_suffix|>\nprint(add(1, 2))\n<|fim_middle|>');
    assert.equal(remoteCompletionAsk(params({ format: 'fim-spm' })).prompt,
      '<|fim_suffix|>\nprint(add(1, 2))\n<|fim_prefix|># a.py\ndef add(a, b):\n    return <|fim_middle|>');
  });

  it('fill-in-the-middle formats and auto ask for /infill, with the other files as its extra context; auto falls back to prefix', () => {
    const ask = remoteCompletionAsk(params({ format: 'auto', context: [{ path: 'lib/m.py', text: 'X = 1\n' }] }));
    assert.deepEqual(ask.infill, { prefix: '# a.py\ndef add(a, b):\n    return ', suffix: '\nprint(add(1, 2))\n', extra: [{ filename: 'lib/m.py', text: 'X = 1\n' }] });
    assert.ok(ask.prompt.endsWith('# a.py\ndef add(a, b):\n    return '), 'the fallback is the prefix prompt');
  });

  it('keeps the start of a long prefix while typing appends to it', () => {
    const line = 'let value = compute(value) + 1;\n';
    let text = line.repeat(Math.ceil((REMOTE_PREFIX_CHARS + 3 * PREFIX_STEP_CHARS) / line.length));
    let previous = stablePrefix(text);
    assert.ok(previous.length <= REMOTE_PREFIX_CHARS && previous.startsWith('let value'));
    let moves = 0;
    for (let i = 0; i < PREFIX_STEP_CHARS; i++) {
      text += 'x';
      const next = stablePrefix(text);
      assert.ok(next.length <= REMOTE_PREFIX_CHARS && next.endsWith('x'.repeat(i + 1)));
      if (!next.startsWith(previous)) moves++;
      previous = next;
    }
    assert.equal(moves, 1, 'the start moved once in a step of typing');
    assert.equal(stablePrefix('short'), 'short');
  });

  it('leaves the rest of the cursor line out of the suffix', () => {
    assert.equal(remoteSuffix(')]\nnext line\n'), 'next line\n');
    assert.equal(remoteSuffix(')]'), '');
  });
});
