// Bundles the three programs of README's "Where things live" (and the webview scripts, once media/ has any):
//   src/extension.ts -> dist/extension.js   (VS Code extension host; `vscode` stays external)
//   engine/main.ts   -> dist/engine.js      (the engine child process)
//   engine/cli.ts    -> dist/cli.js         (the `smallthinker` command)
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const nodeBundle = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  minify: production,
  logLevel: 'warning',
  external: ['vscode'],
};

const builds = [
  { ...nodeBundle, entryPoints: { extension: 'src/extension.ts' }, outdir: 'dist' },
  { ...nodeBundle, entryPoints: { engine: 'engine/main.ts' }, outdir: 'dist' },
  { ...nodeBundle, entryPoints: { cli: 'engine/cli.ts' }, outdir: 'dist' },
];

const webviewEntries = existsSync('media')
  ? readdirSync('media').filter((f) => /\.ts$/.test(f) && !f.endsWith('.test.ts')).map((f) => `media/${f}`)
  : [];
if (webviewEntries.length) {
  builds.push({
    bundle: true, platform: 'browser', target: 'es2022', format: 'iife', sourcemap: true,
    minify: production, logLevel: 'warning', entryPoints: webviewEntries, outdir: 'dist/webview',
  });
}

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}

// The webview's icon font, served from the extension (the CSP allows no remote resources).
if (webviewEntries.length) {
  mkdirSync('dist/webview', { recursive: true });
  for (const f of ['codicon.css', 'codicon.ttf']) copyFileSync(`node_modules/@vscode/codicons/dist/${f}`, `dist/webview/${f}`);
}
