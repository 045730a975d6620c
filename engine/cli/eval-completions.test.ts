// `smallthinker eval-completions` on a generated Qwen-vocabulary model, as CI runs it: the table
// is printed (the figures of a random-weight model say nothing about quality: this exercises the
// plumbing), the JSON holds a score for every case, and the versioned cases name their sources.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ensureModel } from '../../test/generator/index';
import { readCases } from './eval-completions';

const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'dist', 'cli.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: root });

describe('smallthinker eval-completions', function () {
  this.timeout(180_000);
  let model: string;
  before(async () => { model = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' }); });

  it('keeps a versioned case set cut from real files of several languages, each with its source and licence', () => {
    const { version, cases } = readCases(path.join(root, 'eval', 'completion-cases', 'v1.json'));
    assert.equal(version, 1);
    assert.ok(new Set(cases.map((c) => c.language)).size >= 5, 'several languages');
    assert.equal(new Set(cases.map((c) => c.id)).size, cases.length, 'unique ids');
    const licences = fs.readdirSync(path.join(root, 'eval', 'completion-cases', 'licences'));
    for (const c of cases) {
      assert.ok(c.source.package && c.source.licence && c.source.line > 0, c.id);
      assert.ok(c.expected.trim().length > 0 && !c.expected.includes('\n'), `${c.id}: the rest of one line`);
      assert.ok(c.suffix.startsWith('\n'), `${c.id}: the suffix starts after the cursor's line`);
      assert.ok(licences.length >= 6);
    }
  });

  it('prints a table per language for each prompt format, and every case in --json', () => {
    const table = run('eval-completions', '--model', model, '--threads', '2');
    assert.equal(table.status, 0, table.stderr);
    console.log(table.stdout.replace(/^/gm, '      '));
    assert.match(table.stdout, /format prefix; 48 cases of v1\.json \(version 1\)/);
    for (const language of ['typescript', 'javascript', 'python', 'go', 'cpp', 'all']) assert.match(table.stdout, new RegExp(`\\| ${language} +\\|`));
    for (const format of ['fim-spm', 'fim-psm']) {
      const r = run('eval-completions', '--model', model, '--threads', '2', '--format', format, '--limit', '6', '--json');
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.format, format);
      assert.deepEqual(out.model_formats, ['prefix', 'fim-spm', 'fim-psm']);
      assert.equal(out.cases.length, 6);
      for (const c of out.cases) {
        assert.equal(typeof c.suggestion, 'string');
        assert.ok(c.similarity >= 0 && c.similarity <= 1 && c.accepted >= 0 && c.first_token_ms > 0, JSON.stringify(c));
      }
      assert.equal(out.total.cases, 6);
    }
  });

  it('--format auto picks fim-psm only for a file whose FIM tokens\' embedding rows look trained', async () => {
    const expected = { trained: 'fim-psm', untrained: 'prefix', alike: 'prefix' } as const;
    for (const [rows, format] of Object.entries(expected)) {
      const file = await ensureModel({ preset: 'tiny', vocab: 'qwen', ...(rows === 'alike' ? {} : { fimRows: rows as 'trained' | 'untrained' }) });
      const r = run('eval-completions', '--model', file, '--threads', '2', '--format', 'auto', '--limit', '2', '--json');
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.auto_format, format, rows);
      assert.equal(out.fim_tokens, rows === 'alike' ? 'undecidable' : rows);
      assert.match(r.stderr, new RegExp(`auto is ${format} for this model`));
    }
  });

  it('refuses an unknown format and a file that is not a case set, with one clear line', () => {
    const bad = run('eval-completions', '--model', model, '--format', 'fim');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--format must be one of prefix, fim-spm, fim-psm, auto/);
    const notCases = run('eval-completions', '--model', model, '--cases', path.join(root, 'package.json'));
    assert.equal(notCases.status, 1);
    assert.match(notCases.stderr, /is not a completion case file/);
  });
});
