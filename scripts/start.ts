// `npm start`: try the extension in a real VS Code without installing anything by hand. Builds
// the VSIX, installs it into a local code-server on 127.0.0.1 (the end-to-end harness's set-up),
// opens a sample workspace with the model from SMALLTHINKER_MODEL (or a generated demo model,
// whose random weights write gibberish), and prints the URL to open. Ctrl+C stops it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensureModel } from '../test/generator/index';
import { launchCodeServer, root } from '../test/e2e/harness';

async function main(): Promise<void> {
  execFileSync('bash', [path.join(root, 'test', 'e2e', 'setup.sh')], { stdio: 'inherit' });
  execFileSync(process.execPath, [path.join(root, 'scripts', 'package.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const { name, version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const vsix = path.join(root, `${name}-${process.platform}-${process.arch}-${version}.vsix`);
  const model = process.env.SMALLTHINKER_MODEL || await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' });
  if (!fs.existsSync(model)) throw new Error(`SMALLTHINKER_MODEL=${model} does not exist`);

  const dir = path.join(root, '.cache', 'try');
  const workspace = path.join(dir, 'workspace');
  const sample = path.join(workspace, 'sample.ts');
  if (!fs.existsSync(sample)) {
    fs.mkdirSync(workspace, { recursive: true });
    fs.writeFileSync(sample, 'export function average(values: number[]): number {\n  \n}\n');
  }
  const settings = { 'smallthinker.modelPath': model, 'workbench.startupEditor': 'none', 'security.workspace.trust.enabled': false };
  const { server, base } = await launchCodeServer(dir, vsix, settings, workspace);
  // code-server runs in its own process group (with its extension host): Ctrl+C stops them all.
  process.on('SIGINT', () => process.kill(-server.pid!, 'SIGTERM'));
  process.stdout.write(`\nSmallThinker in VS Code (code-server), model ${path.basename(model)}:\n\n  ${base}/?folder=${encodeURIComponent(workspace)}\n\nCtrl+C stops it.\n`);
  server.on('exit', (code) => process.exit(code ?? 0));
}

main().catch((err) => {
  process.stderr.write(`start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
