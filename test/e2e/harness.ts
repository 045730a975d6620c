// A hermetic code-server (VS Code 1.139 in the browser) with our VSIX installed, driven by
// Debian's chromium through playwright-core. Everything lives in a throwaway folder: user
// data, extensions, XDG directories; bound to 127.0.0.1, no auth, no telemetry, no updates.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { freePort } from '../support/net';

export const root = path.resolve(__dirname, '..', '..');
const cache = path.join(root, '.cache', 'e2e');

export function node24(): string {
  const bin = path.join(cache, 'node24', 'node_modules', 'node', 'bin', 'node');
  if (!fs.existsSync(bin)) throw new Error('Node 24 is missing: run test/e2e/setup.sh');
  return bin;
}

export function codeServerEntry(): string {
  const entry = path.join(cache, 'code-server', 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  if (!fs.existsSync(entry)) throw new Error('code-server is missing: run test/e2e/setup.sh');
  return entry;
}

export { freePort };

export interface Harness {
  page: Page;
  dir: string;
  workspace: string;
  extensionsDir: string;
  settingsFile: string;
  /** VS Code's user data directory (its logs/ holds the extension's output channel). */
  userData: string;
  screenshot(name: string): Promise<void>;
  close(): Promise<void>;
}

export const screenshotsDir = path.join(root, 'test-results', 'e2e');

export interface CodeServer {
  server: ChildProcess;
  base: string;
  userData: string;
  extensionsDir: string;
  /** The Machine settings file (machine-scoped settings such as the model path live there). */
  settingsFile: string;
  log: () => string;
}

/**
 * Installs the VSIX into a code-server whose state all lives in `dir` (user data, extensions,
 * XDG directories), starts it on 127.0.0.1 without auth, telemetry or update checks, and waits
 * until it answers. Used by the end-to-end suite and by `npm start`.
 */
export async function launchCodeServer(dir: string, vsix: string, settings: Record<string, unknown>, workspace: string,
  extraArgs: string[] = []): Promise<CodeServer> {
  const userData = path.join(dir, 'user-data');
  const extensionsDir = path.join(dir, 'extensions');
  const xdg = { XDG_CONFIG_HOME: path.join(dir, 'xdg-config'), XDG_DATA_HOME: path.join(dir, 'xdg-data'), XDG_CACHE_HOME: path.join(dir, 'xdg-cache') };
  for (const d of [userData, extensionsDir, workspace, ...Object.values(xdg), path.join(userData, 'User'), path.join(userData, 'Machine')]) {
    fs.mkdirSync(d, { recursive: true });
  }
  // code-server is a remote setup: machine-scoped settings (the model path) are read from the
  // Machine settings, the rest from the User settings; both get everything.
  const settingsFile = path.join(userData, 'Machine', 'settings.json');
  fs.writeFileSync(settingsFile, JSON.stringify(settings, null, 2));
  fs.writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  const env = { ...process.env, ...xdg, HOME: dir };
  const common = ['--user-data-dir', userData, '--extensions-dir', extensionsDir];
  execFileSync(node24(), [codeServerEntry(), ...common, '--install-extension', vsix, '--force'], { env, stdio: 'pipe' });

  const port = await freePort();
  const config = path.join(dir, 'config.yaml');
  fs.writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const server: ChildProcess = spawn(node24(), [codeServerEntry(), '--config', config, ...common, '--disable-telemetry',
    '--disable-update-check', '--disable-workspace-trust', ...extraArgs, workspace], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  // Its own process group: closing it kills the extension host and language servers it forks
  // too (left behind, they kept CI's output open after the suite had passed).
  let serverLog = '';
  server.stdout!.on('data', (d) => (serverLog += d));
  server.stderr!.on('data', (d) => (serverLog += d));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      // not up yet
    }
    if (i > 300 || server.exitCode !== null) throw new Error(`code-server did not start:\n${serverLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { server, base, userData, extensionsDir, settingsFile, log: () => serverLog };
}

export async function startCodeServer(vsix: string, settings: Record<string, unknown>, files: Record<string, string>): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-e2e-'));
  const workspace = path.join(dir, 'workspace');
  fs.mkdirSync(workspace, { recursive: true });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(workspace, name), text);
  // Debug level: the extension's log then names each completion's context chunks.
  const { server, base, userData, extensionsDir, settingsFile, log: serverLog } = await launchCodeServer(dir, vsix, settings, workspace,
    ['--log', 'debug']);

  const browser: Browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(`${base}/?folder=${encodeURIComponent(workspace)}`);
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  fs.mkdirSync(screenshotsDir, { recursive: true });
  return {
    page, dir, workspace, extensionsDir, settingsFile, userData,
    screenshot: async (name) => void (await page.screenshot({ path: path.join(screenshotsDir, `${name}.png`) })),
    close: async () => {
      // Keep the logs (the extension's output channel, the extension host's) with the screenshots.
      fs.cpSync(path.join(userData, 'logs'), path.join(screenshotsDir, 'logs'), { recursive: true, force: true });
      fs.writeFileSync(path.join(screenshotsDir, 'logs', 'code-server.log'), serverLog());
      await browser.close().catch(() => undefined);
      const group = (signal: NodeJS.Signals) => {
        try {
          process.kill(-server.pid!, signal);
        } catch {
          // already gone
        }
      };
      group('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      group('SIGKILL');
      // The engine child of the extension host goes with code-server; make sure.
      try {
        execFileSync('pkill', ['-9', '-f', `${extensionsDir}.*engine.js`]);
      } catch {
        // none left
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs a command from the palette by its title. */
export async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  await page.waitForSelector('.quick-input-widget input', { state: 'visible' });
  await page.keyboard.type(title);
  await page.waitForSelector(`.quick-input-list .monaco-list-row[aria-label*="${title}"]`, { timeout: 20_000 });
  await page.keyboard.press('Enter');
}

/** The frame of our chat webview (webviews are nested iframes). */
export async function chatFrame(page: Page, timeoutMs = 30_000): Promise<Frame> {
  const t0 = Date.now();
  for (;;) {
    for (const f of page.frames()) {
      if (!f.url().includes('webview')) continue;
      if (await f.$('#messages').catch(() => null)) return f;
    }
    if (Date.now() - t0 > timeoutMs) throw new Error('the chat webview did not appear');
    await page.waitForTimeout(200);
  }
}
