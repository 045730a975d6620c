// Each filter, written as "document with the cursor at ║" + "what the model said" → "what the
// user sees" (undefined: nothing is shown).
import assert from 'node:assert/strict';
import {
  applyFilters, cutAtFence, cutAtLineSuffix, dropBlank, dropProse, dropRepetitive, noDuplicateClosers, singleLineInsideLine, stopAtDedent,
  type Filter,
} from './filters';

function at(doc: string) {
  const i = doc.indexOf('║');
  assert.ok(i >= 0, 'the document needs a ║ cursor');
  return { prefix: doc.slice(0, i), suffix: doc.slice(i + 1) };
}

function check(filter: Filter, doc: string, model: string, shown: string | undefined) {
  const r = filter(model, at(doc));
  assert.equal('text' in r ? r.text : undefined, shown, `${JSON.stringify(doc)} + ${JSON.stringify(model)}`);
}

describe('completion filters', () => {
  it('inside a line, keeps only the rest of that line', () => {
    check(singleLineInsideLine, 'const x = ║;\n', '42;\nconst y = 1;', '42;');
    check(singleLineInsideLine, 'function f() {║\n}', '\n  return 1;', '\n  return 1;');
  });

  it('cuts where the suggestion reaches the text after the cursor', () => {
    check(cutAtLineSuffix, 'print(║)\n', 'a, b)', 'a, b');
    check(cutAtLineSuffix, 'if (║) {\n', 'x > 0) {', 'x > 0');
    check(cutAtLineSuffix, 'foo(║)', ')', '');
    check(cutAtLineSuffix, 'let s = ║\n', '"hi";', '"hi";');
  });

  it('does not duplicate closing brackets or quotes the editor already inserted', () => {
    check(noDuplicateClosers, 'call(║)', 'a, b)', 'a, b');
    check(noDuplicateClosers, 'x = [1, ║]', '2, 3]', '2, 3');
    check(noDuplicateClosers, 's = "║"', 'hello"', 'hello');
    check(noDuplicateClosers, 'call(║', 'a, b)', 'a, b)');
  });

  it('stops a multi-line suggestion when the indentation leaves the block', () => {
    check(stopAtDedent, 'def f(x):\n    ║', 'y = x * 2\n    return y\n\nprint(f(3))', 'y = x * 2\n    return y');
    check(stopAtDedent, 'if (ok) {\n  ║\n}', 'run();\n  done();\n}\nother();', 'run();\n  done();');
  });

  it('drops blank suggestions', () => {
    check(dropBlank, 'x = ║', '   \n  ', undefined);
    check(dropBlank, 'x = ║', ' 1', ' 1');
  });

  it('drops suggestions that repeat themselves or the code above', () => {
    check(dropRepetitive, 'a();\n║', 'b();\nb();\nb();', undefined);
    check(dropRepetitive, 'log(1);\nlog(2);\n║', 'log(1);\nlog(2);', undefined);
    check(dropRepetitive, 'x = ║', '))))))))))))))', undefined);
    check(dropRepetitive, 'a();\n║', 'b();\nc();', 'b();\nc();');
  });

  it('drops a suggestion that opens a markdown fence and cuts one before a fence further down', () => {
    check(cutAtFence, 'def area(r):\n    ║', '```python\ndef area(r):\n    return 3.14 * r * r\n```', undefined);
    check(cutAtFence, 'def area(r):\n    ║', '\n```\nreturn r', undefined);
    check(cutAtFence, 'def area(r):\n    ║', 'return 3.14 * r * r\n```\n\nThis computes the area.', 'return 3.14 * r * r');
    check(cutAtFence, 'x = ║', '1', '1');
    // Fences that belong to the document (markdown, a docstring with an example) are left alone.
    check(cutAtFence, '# Usage\n\n```sh\nnpm ║', 'install\n```', 'install\n```');
  });

  it('drops a suggestion that starts a line with a sentence about the code', () => {
    check(dropProse, 'function add(a, b) {\n  ║\n}', 'Here is the completed function:\n  return a + b;', undefined);
    check(dropProse, 'def f():\n    ║', 'Sure! I can help with that.', undefined);
    check(dropProse, 'def f():\n    ║', 'To complete this function, return the sum.', undefined);
    // Code, and words where words are what the user writes, stay.
    check(dropProse, 'function add(a, b) {\n  ║\n}', 'return a + b;', 'return a + b;');
    check(dropProse, '// ║', 'Here is why: the cache is cold.', 'Here is why: the cache is cold.');
    check(dropProse, 'x = ║', 'This is fine.', 'This is fine.');
    check(dropProse, 'fn main() {\n    ║', 'let x = 1;', 'let x = 1;');
    check(dropProse, 'class A:\n    ║', 'I = 1', 'I = 1');
  });

  it('runs as one pipeline and names the filter that dropped a suggestion', () => {
    assert.deepEqual(applyFilters('value)\nnext line', at('f(║)')), { text: 'value' });
    assert.deepEqual(applyFilters(')', at('f(║)')), { dropped: 'dropBlank: blank' });
    assert.deepEqual(applyFilters('return a + b;\n}\n\nfunction g() {', at('function f(a, b) {\n  ║\n}')), { text: 'return a + b;' });
  });
});
