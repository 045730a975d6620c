// The prompt of each action that changes code, and how code comes out of an answer.
import assert from 'node:assert/strict';
import { editMessages, extractCode, fitReplacement, type EditPromptInput } from './prompts';

const base: EditPromptInput = {
  kind: 'edit', code: 'function add(a, b) {\n  return a - b;\n}\n', languageId: 'javascript', filePath: 'src/math.js',
  before: "'use strict';\n", after: '\nmodule.exports = { add };\n',
};

describe('edit prompts', () => {
  it('inline edit: the instruction, the code with its path, and the code around it marked as context', () => {
    const [system, user] = editMessages({ ...base, instruction: 'add JSDoc types' });
    assert.match(system.content, /only.*|nothing else/);
    assert.equal(user.content, [
      'Change this code as follows: add JSDoc types', '',
      'The code before it in `src/math.js`, for context only:', "```javascript\n'use strict';\n```", '',
      'The code to change, from `src/math.js`:', '```javascript\nfunction add(a, b) {\n  return a - b;\n}\n```', '',
      'The code after it, for context only:', '```javascript\n\nmodule.exports = { add };\n```',
    ].join('\n'));
  });

  it('inline edit at the cursor asks for code to insert', () => {
    const [, user] = editMessages({ ...base, code: '', instruction: 'a subtract function' });
    assert.match(user.content, /^Write the code to insert at this point, as follows: a subtract function/);
    assert.match(user.content, /The insertion point in `src\/math.js` is here\./);
  });

  it('Fix names the problem, its line and who reported it', () => {
    const [, user] = editMessages({ ...base, kind: 'fix', diagnostic: { message: "Operator '-' is wrong here", line: 2, source: 'ts' } });
    assert.match(user.content, /^Fix this problem reported at line 2 by ts: Operator '-' is wrong here\. Change only what the fix needs\./);
  });

  it("Document asks for the language's comment style; Write Tests asks for a test file without the surrounding code", () => {
    assert.match(editMessages({ ...base, kind: 'document', languageId: 'python' })[1].content, /usual style for python .*docstring/);
    const [system, user] = editMessages({ ...base, kind: 'tests', before: '', after: '' });
    assert.match(system.content, /complete test file/);
    assert.match(user.content, /^Write unit tests for this code, using the test framework most usual for javascript and importing it from `src\/math.js`/);
    assert.doesNotMatch(user.content, /for context only/);
  });

  it('takes the first fenced block from an answer, also while it streams, else the whole answer', () => {
    assert.equal(extractCode('Here:\n```js\nconst x = 1;\n```\nDone.'), 'const x = 1;');
    assert.equal(extractCode('```js\nconst x = 1;\nconst y'), 'const x = 1;\nconst y');
    assert.equal(extractCode('```js\nconst x = 1;\n``'), 'const x = 1;');
    assert.equal(extractCode('````md\n```js\nx\n```\n````'), '```js\nx\n```');
    assert.equal(extractCode('\nconst x = 1;\n\n'), 'const x = 1;');
  });

  it("puts back the original's indentation and final newline when the model dropped them", () => {
    assert.equal(fitReplacement('return a + b;', '    return a - b;\n'), '    return a + b;\n');
    assert.equal(fitReplacement('if (x) {\n  y();\n}', '  if (x) {\n    z();\n  }\n'), '  if (x) {\n    y();\n  }\n');
    assert.equal(fitReplacement('  kept();', '  old();'), '  kept();', 'already indented: unchanged');
    assert.equal(fitReplacement('a + b', 'a - b'), 'a + b');
  });
});
