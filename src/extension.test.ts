// The manifest and the extension agree: every contributed command is registered on
// activation (no placeholders), and activation itself is clean.
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import { installFakeVscode } from '../test/support/fake-vscode';

const root = path.resolve(__dirname, '..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

describe('extension activation (bundled dist/extension.js)', () => {
  it('registers exactly the commands the manifest contributes; Show Logs and Restart Engine work; deactivation stops the engine', async () => {
    const fake = installFakeVscode();
    try {
      const bundle = path.join(root, 'dist', 'extension.js');
      delete require.cache[bundle];
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const ext = require(bundle);
      const subscriptions: { dispose(): void }[] = [];
      ext.activate({ subscriptions, extension: { packageJSON: manifest } });
      const contributed = manifest.contributes.commands.map((c: { command: string }) => c.command).sort();
      assert.deepEqual([...fake.registeredCommands.keys()].sort(), contributed);
      fake.registeredCommands.get('smallthinker.showLogs')!();
      assert.equal(fake.shownLogs, 1);
      assert.match(fake.logLines.join('\n'), /activated/);
      assert.doesNotMatch(fake.logLines.join('\n'), /engine starting/, 'the engine starts on first use, not on activation');
      fake.registeredCommands.get('smallthinker.restartEngine')!();
      assert.match(fake.logLines.join('\n'), /engine starting[\s\S]*engine ready/);
      for (const s of subscriptions) s.dispose();
      await ext.deactivate();
      assert.match(fake.logLines.join('\n'), /engine stopped/);
    } finally {
      fake.restore();
    }
  });

  it('declares what VS Code needs to load it', () => {
    assert.equal(manifest.main, './dist/extension.js');
    assert.ok(manifest.engines.vscode);
    assert.equal(manifest.bin.smallthinker, 'dist/cli.js');
    // Settings arrive with the features that read them; each then needs a description and a
    // default, and settings naming files or executables are machine-scoped.
    for (const [key, prop] of Object.entries<Record<string, unknown>>(manifest.contributes.configuration?.properties ?? {})) {
      assert.ok(prop.description, `${key} has a description`);
      assert.ok('default' in prop, `${key} has a default`);
      if (/path|executable/i.test(key)) assert.equal(prop.scope, 'machine', `${key} is machine-scoped`);
    }
  });
});
