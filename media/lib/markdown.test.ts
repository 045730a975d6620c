// Hostile model output renders inert: no script, no event handler, no javascript: link.
import assert from 'node:assert/strict';
import { renderMarkdown } from './markdown';

const TAGS = new Set(['p', 'strong', 'em', 'a', 'code', 'pre', 'span', 'ul', 'ol', 'li', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
  'blockquote', 'hr', 'br', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 's']);

/** Every tag in the HTML is harmless and carries only harmless attributes (text is escaped). */
function assertInert(html: string): void {
  for (const [, closing, name, attrs] of html.matchAll(/<(\/?)([a-zA-Z0-9]+)([^>]*)>/g)) {
    assert.ok(TAGS.has(name.toLowerCase()), `tag <${closing}${name}> in ${html}`);
    for (const [, attr, value] of attrs.matchAll(/([a-zA-Z-]+)="([^"]*)"/g)) {
      assert.ok(['class', 'data-lang', 'href', 'style'].includes(attr) && attr !== 'style', `attribute ${attr} in ${html}`);
      if (attr === 'href') assert.match(value, /^(https?:|mailto:)/, html);
    }
    assert.doesNotMatch(attrs.replace(/([a-zA-Z-]+)="[^"]*"/g, ''), /\S/, `unquoted attributes in ${html}`);
  }
}

describe('chat markdown rendering', () => {
  it('renders ordinary markdown and highlights code blocks', () => {
    const html = renderMarkdown('Use **map**:\n\n```ts\nconst x = [1, 2].map((n) => n * 2);\n```\n');
    assert.match(html, /<strong>map<\/strong>/);
    assert.match(html, /<pre class="code-block" data-lang="ts"><code class="hljs">.*<span class="hljs-keyword">const<\/span>/s);
    assertInert(html);
  });

  const hostile = [
    '<script>alert(1)</script>',
    '<img src=x onerror=alert(1)>',
    '<a href="javascript:alert(1)">click</a>',
    '[click](javascript:alert(1))',
    '[click](JAVASCRIPT:alert(1))',
    '[click]( javascript:alert(1))',
    '![img](javascript:alert(1))',
    '[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
    '<iframe src="https://evil.example"></iframe>',
    '<svg onload=alert(1)>',
    '```html\n<script>alert(1)</script>\n```',
    '<style>body{display:none}</style>',
    '[x](vbscript:msgbox(1))',
  ];
  for (const input of hostile) {
    it(`renders inert: ${input.replace(/\n/g, '\\n')}`, () => {
      assertInert(renderMarkdown(input));
    });
  }

  it('keeps http(s) links', () => {
    assert.match(renderMarkdown('[docs](https://code.visualstudio.com)'), /<a href="https:\/\/code.visualstudio.com">docs<\/a>/);
  });
});
