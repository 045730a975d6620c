// `npm start`: try the extension in a real VS Code without installing anything by hand. Builds
// the VSIX, installs it into a local code-server on 127.0.0.1 (the end-to-end harness's set-up),
// opens a sample workspace with the model from SMALLTHINKER_MODEL (or a generated demo model,
// whose random weights write gibberish), and prints the URL to open. Ctrl+C stops it.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensureModel } from '../test/generator/index';
import { codeServerEntry, freePort, node24, root } from '../test/e2e/harness';

async function main(): Promise<void> {
  execFileSync('bash', [path.join(root, 'test', 'e2e', 'setup.sh')], { stdio: 'inherit' });
  execFileSync(process.execPath, [path.join(root, 'scripts', 'package.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const { name, version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const vsix = path.join(root, `${name}-${process.platform}-${process.arch}-${version}.vsix`);
  const model = process.env.SMALLTHINKER_MODEL || await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' });
  if (!fs.existsSync(model)) throw new Error(`SMALLTHINKER_MODEL=${model} does not exist`);

  const dir = path.join(root, '.cache', 'try');
  const userData = path.join(dir, 'user-data');
  const extensionsDir = path.join(dir, 'extensions');
  const workspace = path.join(dir, 'workspace');
  for (const d of ['User', 'Machine']) fs.mkdirSync(path.join(userData, d), { recursive: true });
  fs.mkdirSync(workspace, { recursive: true });
  const sample = path.join(workspace, 'sample.ts');
  if (!fs.existsSync(sample)) {
    fs.writeFileSync(sample, 'export function average(values: number[]): number {\n  \n}\n');
  }
  const settings = { 'smallthinker.modelPath': model, 'workbench.startupEditor': 'none', 'security.workspace.trust.enabled': false };
  // Machine-scoped settings (the model path) are read from the Machine settings in code-server.
  for (const d of ['User', 'Machine']) fs.writeFileSync(path.join(userData, d, 'settings.json'), JSON.stringify(settings, null, 2));
  const env = { ...process.env, XDG_CONFIG_HOME: path.join(dir, 'xdg-config'), XDG_DATA_HOME: path.join(dir, 'xdg-data'), XDG_CACHE_HOME: path.join(dir, 'xdg-cache') };
  const common = ['--user-data-dir', userData, '--extensions-dir', extensionsDir];
  execFileSync(node24(), [codeServerEntry(), ...common, '--install-extension', vsix, '--force'], { env, stdio: 'ignore' });
  const port = await freePort();
  const config = path.join(dir, 'config.yaml');
  fs.writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const server = spawn(node24(), [codeServerEntry(), '--config', config, ...common, '--disable-telemetry', '--disable-update-check', workspace],
    { env, stdio: 'ignore' });
  process.on('SIGINT', () => server.kill('SIGTERM'));
  for (let i = 0; i < 300; i++) {
    if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stdout.write(`\nSmallThinker in VS Code (code-server), model ${path.basename(model)}:\n\n  http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}\n\nCtrl+C stops it.\n`);
  server.on('exit', (code) => process.exit(code ?? 0));
}

main().catch((err) => {
  process.stderr.write(`start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
