// The chat webview: shows the conversation (model output as sanitised markdown), streams the
// answer, and sends the user's actions to the extension. It holds no state the extension does
// not have: every 'state' message redraws it.
import { renderMarkdown } from './lib/markdown';
import type { AttachmentChip, HostToView, ShownMessage, ViewToHost } from '../src/chat/messages';

declare function acquireVsCodeApi(): { postMessage(message: ViewToHost): void };
const vscode = acquireVsCodeApi();

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const log = $<HTMLDivElement>('messages');
const input = $<HTMLTextAreaElement>('input');
const send = $<HTMLButtonElement>('send');
const stop = $<HTMLButtonElement>('stop');
const welcome = $<HTMLDivElement>('welcome');
const composer = $<HTMLFormElement>('composer');
const errorBox = $<HTMLDivElement>('error');
const chips = $<HTMLDivElement>('chips');
const conversationBar = $<HTMLDivElement>('conversation-bar');
const conversationTitle = $<HTMLSpanElement>('conversation-title');

let streaming: { element: HTMLDivElement; text: string } | undefined;
let renderQueued = false;
/**
 * The streamed answer is drawn again at most this often: each drawing renders the whole answer,
 * and drawing every frame kept a slow machine's renderer so busy that a click on Stop waited.
 */
const STREAM_RENDER_MS = 100;
/** A pause in typing this long sends the question so far to be evaluated ahead. */
const TYPING_PAUSE_MS = 400;

function button(icon: string, label: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'icon-button';
  b.title = label;
  b.setAttribute('aria-label', label);
  const i = document.createElement('span');
  i.className = `codicon codicon-${icon}`;
  b.append(i);
  b.addEventListener('click', onClick);
  return b;
}

/** Markdown into an element, then Copy, Insert and Apply buttons on every code block (`index`: the message's, for Apply). */
function renderInto(element: HTMLElement, text: string, index: number): void {
  element.innerHTML = renderMarkdown(text);  // renderMarkdown escapes raw HTML and unsafe links
  for (const pre of Array.from(element.querySelectorAll<HTMLPreElement>('pre.code-block'))) {
    const code = pre.querySelector('code')?.textContent ?? '';
    const bar = document.createElement('div');
    bar.className = 'code-actions';
    bar.append(
      button('copy', 'Copy code', () => vscode.postMessage({ type: 'copy', code })),
      button('insert', 'Insert code at the cursor', () => vscode.postMessage({ type: 'insert', code })),
    );
    if (index >= 0) bar.append(button('diff', 'Apply to the file (shows a diff)', () => vscode.postMessage({ type: 'apply', code, message: index })));
    pre.before(bar);
  }
}

function messageElement(m: ShownMessage, index: number): HTMLDivElement {
  const wrap = document.createElement('div');
  wrap.className = `message ${m.role}`;
  const who = document.createElement('div');
  who.className = 'role';
  who.textContent = m.role === 'user' ? 'You' : 'SmallThinker';
  const body = document.createElement('div');
  body.className = 'body';
  if (m.role === 'user') body.textContent = m.content;
  else renderInto(body, m.content, index);
  wrap.append(who, body);
  return wrap;
}

function setBusy(busy: boolean): void {
  send.hidden = busy;
  stop.hidden = !busy;
  input.setAttribute('aria-busy', String(busy));
}

function size(chars: number): string {
  return chars < 1000 ? `${chars} chars` : `${(chars / 1000).toFixed(chars < 10_000 ? 1 : 0)}k chars`;
}

function chipElement(c: AttachmentChip): HTMLSpanElement {
  const chip = document.createElement('span');
  chip.className = 'chip';
  chip.dataset.kind = c.kind;
  const label = document.createElement('span');
  label.textContent = `${c.label} · ${size(c.chars)}`;
  chip.append(label, button('close', `Remove ${c.label}`, () => vscode.postMessage({ type: 'detach', id: c.id })));
  return chip;
}

function applyState(s: Extract<HostToView, { type: 'state' }>): void {
  welcome.hidden = s.hasModel;
  composer.hidden = !s.hasModel;
  log.hidden = !s.hasModel;
  conversationBar.hidden = !s.hasModel;
  conversationTitle.textContent = s.conversation.title;
  chips.replaceChildren(...s.attachments.map(chipElement));
  log.replaceChildren(...s.messages.map((m, i) => messageElement(m, i)));
  errorBox.hidden = !s.error;
  errorBox.textContent = s.error ?? '';
  streaming = undefined;
  if (s.busy) {
    const element = messageElement({ role: 'assistant', content: '' }, -1);
    element.classList.add('streaming');
    log.append(element);
    streaming = { element: element.querySelector('.body') as HTMLDivElement, text: '' };
  }
  setBusy(s.busy);
  if (s.draft && !input.value) input.value = s.draft;
  log.scrollTop = log.scrollHeight;
}

window.addEventListener('message', (event: MessageEvent<HostToView>) => {
  const m = event.data;
  if (m.type === 'state') applyState(m);
  else if (m.type === 'delta' && streaming) {
    streaming.text += m.text;
    if (!renderQueued) {
      renderQueued = true;
      setTimeout(() => requestAnimationFrame(() => {
        renderQueued = false;
        if (!streaming) return;
        renderInto(streaming.element, streaming.text, -1);
        log.scrollTop = log.scrollHeight;
      }), STREAM_RENDER_MS);
    }
  } else if (m.type === 'focus') input.focus();
});

// A pause in typing sends the question so far: the engine evaluates it ahead while idle, and
// sending it then only evaluates the last words.
let typingTimer: ReturnType<typeof setTimeout> | undefined;
input.addEventListener('input', () => {
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => {
    const text = input.value.trim();
    if (text && stop.hidden) vscode.postMessage({ type: 'typing', text });
  }, TYPING_PAUSE_MS);
});

composer.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text || !stop.hidden) return;
  clearTimeout(typingTimer);  // a late warm-up of this text would rewind the slot the answer fills
  vscode.postMessage({ type: 'ask', text });
  input.value = '';
});
input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) {
    e.preventDefault();
    composer.requestSubmit();
  } else if (e.key === 'Escape' && !stop.hidden) {
    vscode.postMessage({ type: 'stop' });
  }
});
stop.addEventListener('click', () => vscode.postMessage({ type: 'stop' }));
for (const what of ['selection', 'file', 'files', 'problems'] as const) {
  $<HTMLButtonElement>(`attach-${what}`).addEventListener('click', () => vscode.postMessage({ type: 'attach', what }));
}
$<HTMLButtonElement>('conversations').addEventListener('click', () => vscode.postMessage({ type: 'conversations' }));
$<HTMLButtonElement>('select-model').addEventListener('click', () => vscode.postMessage({ type: 'selectModel' }));
$<HTMLButtonElement>('download-model').addEventListener('click', () => vscode.postMessage({ type: 'downloadModel' }));

vscode.postMessage({ type: 'ready' });
