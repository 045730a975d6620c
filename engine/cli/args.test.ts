import assert from 'node:assert/strict';
import { parseArgs, UsageError } from './args';

describe('CLI argument parsing', () => {
  const spec = { model: 'string', threads: 'number', json: 'flag', stop: 'list' } as const;

  it('collects repeated list options', () => {
    assert.deepEqual(parseArgs(['--stop', 'a', '--stop=b'], spec).options.get('stop'), ['a', 'b']);
  });

  it('reads positionals, values, --name=value and flags', () => {
    const a = parseArgs(['inspect.gguf', '--threads', '2', '--model=m.gguf', '--json'], spec);
    assert.deepEqual(a.positionals, ['inspect.gguf']);
    assert.equal(a.options.get('threads'), 2);
    assert.equal(a.options.get('model'), 'm.gguf');
    assert.equal(a.options.get('json'), true);
  });

  it('rejects unknown options, missing values and non-numbers with a clear message', () => {
    assert.throws(() => parseArgs(['--thread', '2'], spec), (e: Error) => e instanceof UsageError && /unknown option --thread/.test(e.message));
    assert.throws(() => parseArgs(['--threads'], spec), /--threads needs a value/);
    assert.throws(() => parseArgs(['--threads', 'two'], spec), /--threads needs a number, got "two"/);
    assert.throws(() => parseArgs(['--json=1'], spec), /--json takes no value/);
  });
});
