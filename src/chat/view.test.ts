// The chat webview's HTML: a strict CSP with a fresh nonce and nothing remote.
import assert from 'node:assert/strict';
import { installFakeVscode } from '../../test/support/fake-vscode';

describe('chat webview HTML', () => {
  it('has a strict Content-Security-Policy with a nonce on every script and stylesheet, and no remote resources', () => {
    const fake = installFakeVscode();
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { chatHtml } = require('./view') as typeof import('./view');
      const webview = { cspSource: 'vscode-webview-resource:', asWebviewUri: (u: { path: string }) => ({ toString: () => `vscode-webview-resource:${u.path}` }) };
      const html = chatHtml(webview as never, { path: '/ext' } as never, 'N0nce==');
      const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)![1];
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'nonce-N0nce=='(;|$)/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
      for (const tag of html.match(/<(script|link)\b[^>]*>/g)!) assert.match(tag, /nonce="N0nce=="/, tag);
      assert.doesNotMatch(html, /https?:\/\//);
      assert.match(html, /aria-label="Stop generating"/);
    } finally {
      fake.restore();
    }
  });
});
