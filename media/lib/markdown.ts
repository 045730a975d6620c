// Model output to HTML for the chat webview, safe by construction: raw HTML in the text is
// escaped (markdown-it with html off), links and images only keep http(s) and mailto targets,
// and code blocks are highlighted with highlight.js (which escapes what it outputs). The
// webview's Content-Security-Policy is the second wall: no inline script runs without its nonce.
import MarkdownIt from 'markdown-it';
import hljs from 'highlight.js/lib/common';

const SAFE_URL = /^(https?:|mailto:)/i;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const md: MarkdownIt = new MarkdownIt({
  html: false,
  linkify: false,
  breaks: false,
  highlight: (code, lang) => {
    const language = lang && hljs.getLanguage(lang) ? lang : undefined;
    const body = language ? hljs.highlight(code, { language, ignoreIllegals: true }).value : escapeHtml(code);
    return `<pre class="code-block" data-lang="${escapeHtml(language ?? '')}"><code class="hljs">${body}</code></pre>`;
  },
});

// Only absolute http(s)/mailto links survive; anything else (javascript:, data:, vbscript:,
// file:, relative paths) renders as plain text.
md.validateLink = (url: string) => SAFE_URL.test(url.trim());

export function renderMarkdown(text: string): string {
  return md.render(text);
}
