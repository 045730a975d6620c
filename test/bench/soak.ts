// `npm run soak`: long use of the real supervisor and engine process, as an editor would put
// them through it: typing in several documents (a completion per keystroke, each cancelling
// the one before, warm-ups on switching), chats that grow to 40 turns, and, unless
// --no-chaos, the engine SIGKILLed or SIGSTOPped at random moments. It checks that every
// request settles (an answer or a clear error), that nothing waits longer than the stall
// timeout allows, and that memory and open handles stay flat after warm-up; with
// --memory-budget and --cgroup the engine runs in a memory cgroup of that size and the peak
// is reported against it.
//   npm run soak -- [--minutes 30] [--preset 4b|21b|tiny|tiny-swa] [--routing realistic] [--threads 2]
//     [--memory-budget MIB] [--cgroup] [--completions N] [--chat-turns N] [--no-chaos]
//     [--stall-ms 30000] [--seed 1] [--json]
// With --completions/--chat-turns the run ends when both counts are reached (or --minutes).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CancellationTokenSource } from 'vscode-jsonrpc/node';
import {
  ChatDeltaNotification, ChatRequest, CompletionRequest, EngineErrorCodes, StatsRequest, WarmCompletionNotification,
  type ChatMessage, type EngineStats,
} from '../../engine/protocol';
import { EngineError, EngineSupervisor } from '../../src/engine-supervisor';
import { ensureModel } from '../generator/index';
import { Rng } from '../generator/random';
import { dropPageCache, MemoryCgroup } from './cgroup';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const root = path.resolve(__dirname, '..', '..');
/** The extension's default pause before asking for a completion (smallthinker.inlineCompletion.debounceMs). */
const DEBOUNCE_MS = 150;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** How a request ended. */
type Outcome = 'answered' | 'cancelled' | 'superseded' | 'crashed' | 'stalled' | 'error';

interface Tracked {
  kind: 'completion' | 'chat';
  start: number;
  end?: number;
  outcome?: Outcome;
  message?: string;
}

interface Sample {
  t: number;
  pid: number | undefined;
  engineRss: number;
  engineFds: number;
  jsHeap: number;
  ourFds: number;
  ourHandles: number;
  cgroupUsage: number;
}

/** Documents to type in: real source files of this repository, several languages. */
function documents(): Array<{ id: string; languageId: string; filePath: string; text: string }> {
  const files: Array<[string, string]> = [
    ['engine/server.ts', 'typescript'], ['src/engine-supervisor.ts', 'typescript'], ['native/src/model/forward.cpp', 'cpp'],
    ['native/src/tokenizer/bpe_tokenizer.cpp', 'cpp'], ['test/generator/quantize.ts', 'typescript'], ['docs/engine.md', 'markdown'],
    ['native/tools/gen_unicode_tables.py', 'python'], ['media/chat.css', 'css'],
  ];
  return files.map(([file, languageId]) => ({
    id: `file:///soak/${file}`, languageId, filePath: file, text: fs.readFileSync(path.join(root, file), 'utf8'),
  }));
}

const fdCount = (pid: number | 'self') => {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
};
const rssOf = (pid: number) => {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
};

async function main(): Promise<void> {
  const minutes = Number(option('minutes', '30'));
  const preset = option('preset', '4b') as '4b' | '21b' | 'tiny' | 'tiny-swa';
  const routing = option('routing', preset.startsWith('tiny') ? '' : 'realistic');
  const threads = Number(option('threads', '2'));
  const budgetMiB = Number(option('memory-budget', '0'));
  const wantedCompletions = Number(option('completions', '0'));
  const wantedTurns = Number(option('chat-turns', '0'));
  const chaos = !flag('no-chaos');
  const stallMs = Number(option('stall-ms', '30000'));
  const rng = new Rng(Number(option('seed', '1')));
  const model = await ensureModel({
    preset, type: 'q4_0', vocab: 'qwen', flavour: 'upstream', seed: 1, ...(routing ? { routing: routing as 'realistic' } : {}),
  });
  const cgroup = flag('cgroup') && budgetMiB > 0 ? MemoryCgroup.create(`smallthinker-soak-${process.pid}`, budgetMiB * 2 ** 20) : undefined;
  if (flag('cgroup') && !cgroup) throw new Error('--cgroup needs --memory-budget');
  if (cgroup) dropPageCache();

  // Each engine joins the cgroup before Node starts in it (a shell that joins, then execs Node),
  // so everything it ever allocates is charged there.
  let execPath: string | undefined;
  if (cgroup) {
    execPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'st-soak-')), 'node-in-cgroup.sh');
    fs.writeFileSync(execPath, `#!/bin/sh\necho $$ > ${path.join(cgroup.dir, 'cgroup.procs')} && exec ${process.execPath} "$@"\n`, { mode: 0o755 });
  }
  const logLines: string[] = [];
  const supervisor = new EngineSupervisor({
    enginePath: path.join(root, 'dist', 'engine.js'), stallTimeoutMs: stallMs, maxCrashes: 1000, execPath,
    log: (level, message) => {
      logLines.push(`${level}: ${message}`);
      if (level !== 'info') process.stderr.write(`soak: ${level}: ${message.split('\n')[0]}\n`);
    },
  });
  const deltaHandlers = new Map<string, () => void>();
  supervisor.onNotification(ChatDeltaNotification, (d) => deltaHandlers.get(d.chatId)?.());

  const tracked: Tracked[] = [];
  const track = async <T>(kind: Tracked['kind'], run: () => Promise<T>): Promise<T | undefined> => {
    const entry: Tracked = { kind, start: Date.now() };
    tracked.push(entry);
    try {
      const value = await run();
      entry.outcome = 'answered';
      return value;
    } catch (err) {
      const code = (err as { code?: number }).code;
      entry.outcome = code === EngineErrorCodes.RequestCancelled ? 'cancelled' : code === EngineErrorCodes.Superseded ? 'superseded'
        : err instanceof EngineError && (err.kind === 'crashed' || err.kind === 'stalled') ? err.kind : 'error';
      entry.message = err instanceof Error ? err.message : String(err);
      return undefined;
    } finally {
      entry.end = Date.now();
    }
  };

  const t0 = Date.now();
  const deadline = t0 + minutes * 60_000;
  const loadStart = Date.now();
  const info = await supervisor.loadModel({ modelPath: model, threads, memoryBudgetMiB: budgetMiB });
  // What the engine plans to hold at most: weights (or the budget), every slot's KV cache, scratch.
  const plannedBytes = budgetMiB > 0 ? budgetMiB * 2 ** 20 : info.memory.weightsBytes + info.memory.kvBudgetBytes + info.memory.scratchBytes;
  process.stderr.write(`soak: ${path.basename(model)} loaded in ${((Date.now() - loadStart) / 1000).toFixed(1)} s` +
    `${budgetMiB ? ` under a ${budgetMiB} MiB budget${cgroup ? ' in a memory cgroup of that size' : ''}` : ''}\n`);
  if (cgroup) cgroup.resetPeak();

  // --- memory and handles, every 5 s ---------------------------------------------------------
  const samples: Sample[] = [];
  const sampler = setInterval(() => {
    const pid = supervisor.pid;
    void supervisor.request0(StatsRequest).then((s: EngineStats) => s.memory.jsHeapBytes, () => 0).then((jsHeap) => {
      samples.push({
        t: Date.now() - t0, pid, engineRss: pid ? rssOf(pid) : 0, engineFds: pid ? fdCount(pid) : 0, jsHeap,
        ourFds: fdCount('self'), ourHandles: (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length,
        cgroupUsage: cgroup ? Number(fs.readFileSync(path.join(cgroup.dir, 'memory.usage_in_bytes'), 'utf8')) : 0,
      });
    });
  }, 5000);

  // --- chaos: SIGKILL or SIGSTOP at random moments ---------------------------------------------
  const events: Array<{ t: number; what: string }> = [];
  let chaosTimer: NodeJS.Timeout | undefined;
  const scheduleChaos = () => {
    chaosTimer = setTimeout(async () => {
      const pid = supervisor.pid;
      if (pid) {
        if (rng.next() < 0.5) {
          events.push({ t: Date.now() - t0, what: 'SIGKILL' });
          process.kill(pid, 'SIGKILL');
        } else {
          // Half the stops outlast the stall timeout (the supervisor must kill and restart),
          // half do not (the requests must just wait and then finish).
          const ms = rng.next() < 0.5 ? 1000 + Math.floor(rng.next() * (stallMs / 2)) : stallMs + 2000;
          events.push({ t: Date.now() - t0, what: `SIGSTOP for ${ms} ms` });
          process.kill(pid, 'SIGSTOP');
          await sleep(ms);
          try {
            process.kill(pid, 'SIGCONT');
          } catch {
            // killed meanwhile by the stall timeout: expected for long stops
          }
        }
      }
      if (Date.now() < deadline) scheduleChaos();
    }, 45_000 + rng.next() * 60_000);
  };
  if (chaos) scheduleChaos();

  // --- typing ---------------------------------------------------------------------------------
  const docs = documents();
  let completions = 0;
  const typing = (async () => {
    while (Date.now() < deadline && (!wantedCompletions || completions < wantedCompletions)) {
      const doc = docs[Math.floor(rng.next() * docs.length)];
      let cursor = Math.floor(rng.next() * doc.text.length * 0.8);
      cursor = doc.text.lastIndexOf('\n', cursor) + 1;
      const suffixOf = (at: number) => doc.text.slice(at, at + 6000);
      supervisor.notify(WarmCompletionNotification, {
        documentId: doc.id, languageId: doc.languageId, filePath: doc.filePath, prefix: doc.text.slice(Math.max(0, cursor - 24_000), cursor),
        suffix: suffixOf(cursor),
      });
      let previous: CancellationTokenSource | undefined;
      const burst = 20 + Math.floor(rng.next() * 60);
      for (let k = 0; k < burst && Date.now() < deadline; k++) {
        previous?.cancel();  // VS Code cancels the request of the previous keystroke
        cursor = Math.min(doc.text.length, cursor + 1);
        const gap = 60 + rng.next() * 190;
        // As the extension's debounce does: ask only once typing pauses for DEBOUNCE_MS.
        if (gap >= DEBOUNCE_MS) {
          const source = new CancellationTokenSource();
          previous = source;
          const params = {
            documentId: doc.id, languageId: doc.languageId, filePath: doc.filePath, maxTokens: 24, maxLines: 4,
            prefix: doc.text.slice(Math.max(0, cursor - 24_000), cursor), suffix: suffixOf(cursor),
          };
          completions++;
          void track('completion', () => supervisor.request(CompletionRequest, params, source.token));
        }
        await sleep(gap);
        if (wantedCompletions && completions >= wantedCompletions) break;
      }
      await sleep(500 + rng.next() * 3000);  // a pause: the last suggestion is read
    }
  })();

  // --- chats ----------------------------------------------------------------------------------
  let turns = 0;
  const chatting = (async () => {
    let chatId = `soak-${Date.now()}`;
    let history: ChatMessage[] = [];
    while (Date.now() < deadline && (!wantedTurns || turns < wantedTurns)) {
      await sleep(wantedTurns ? 2000 : 20_000 + rng.next() * 40_000);
      const doc = docs[Math.floor(rng.next() * docs.length)];
      const at = Math.floor(rng.next() * Math.max(1, doc.text.length - 3000));
      const question = `Explain this part of ${doc.filePath}:\n\`\`\`\n${doc.text.slice(at, at + 1500 + rng.next() * 1500)}\n\`\`\``;
      history.push({ role: 'user', content: question });
      let streamed = '';
      deltaHandlers.set(chatId, () => (streamed += '.'));
      const result = await track('chat', () => supervisor.request(ChatRequest, {
        chatId, maxTokens: 96, temperature: 0.6, messages: [{ role: 'system', content: 'You are a concise assistant.' }, ...history],
      }));
      deltaHandlers.delete(chatId);
      if (result) history.push({ role: 'assistant', content: result.text });
      else history.pop();
      turns++;
      if (history.length >= 80) {  // 40 turns: a new conversation
        chatId = `soak-${Date.now()}`;
        history = [];
      }
    }
  })();

  await Promise.all([typing, chatting]);
  clearTimeout(chaosTimer);
  // Every request must settle: wait for the last ones, at most the stall timeout and a reload.
  const settleBy = Date.now() + stallMs + 60_000;
  while (tracked.some((r) => r.end === undefined) && Date.now() < settleBy) await sleep(200);
  clearInterval(sampler);
  const stats = await supervisor.request0(StatsRequest).catch(() => undefined);
  const peak = cgroup?.peakBytes() ?? 0;
  const oomKills = cgroup?.oomKills() ?? 0;
  await supervisor.dispose();
  cgroup?.remove();

  // --- report ---------------------------------------------------------------------------------
  const unsettled = tracked.filter((r) => r.end === undefined).length;
  const byOutcome: Record<string, number> = {};
  for (const r of tracked) byOutcome[`${r.kind} ${r.outcome ?? 'unsettled'}`] = (byOutcome[`${r.kind} ${r.outcome ?? 'unsettled'}`] ?? 0) + 1;
  const answered = tracked.filter((r) => r.outcome === 'answered');
  // What the failures said (a message per kind, with counts): every one must be clear.
  const errors: Record<string, number> = {};
  for (const r of tracked) {
    if (r.outcome === 'answered' || r.outcome === 'cancelled' || r.outcome === 'superseded') continue;
    const key = `${r.kind} ${r.outcome}: ${(r.message || '(no message)').split('\n')[0].replace(/\d+/g, 'N')}`;
    errors[key] = (errors[key] ?? 0) + 1;
  }
  const longestSettle = Math.max(0, ...tracked.filter((r) => r.end !== undefined).map((r) => r.end! - r.start));
  const longest = (kind: Tracked['kind']) => Math.max(0, ...answered.filter((r) => r.kind === kind).map((r) => r.end! - r.start));
  // An engine lifetime's memory after warm-up: from its first sample one minute in, to its last.
  const lifetimes = new Map<number, Sample[]>();
  for (const s of samples) if (s.pid) lifetimes.set(s.pid, [...(lifetimes.get(s.pid) ?? []), s]);
  const growth = [...lifetimes.values()].map((list) => {
    const warm = list.filter((s) => s.t - list[0].t >= 60_000 && s.engineRss > 0);
    if (warm.length < 2) return undefined;
    return {
      minutes: (warm.at(-1)!.t - warm[0].t) / 60_000, rssFrom: warm[0].engineRss, rssTo: warm.at(-1)!.engineRss,
      rssMax: Math.max(...warm.map((s) => s.engineRss)), heapFrom: warm[0].jsHeap, heapMax: Math.max(...warm.map((s) => s.jsHeap)),
      fdsFrom: warm[0].engineFds, fdsTo: warm.at(-1)!.engineFds,
    };
  }).filter((g) => g !== undefined);
  const ours = samples.filter((s) => s.t >= 60_000);
  const summary = {
    model: path.basename(model), minutes: (Date.now() - t0) / 60_000, chaos, stall_timeout_ms: stallMs, memory_budget_mib: budgetMiB,
    requests: tracked.length, completions, chat_turns: turns, unsettled, outcomes: byOutcome,
    longest_answered_ms: { completion: longest('completion'), chat: longest('chat') }, longest_settle_ms: longestSettle, errors,
    chaos_events: events, restarts: logLines.filter((l) => /engine (was killed|exited|stopped because)/.test(l)).length,
    engine_lifetimes: growth,
    supervisor_fds: ours.length ? { from: ours[0].ourFds, to: ours.at(-1)!.ourFds, max: Math.max(...ours.map((s) => s.ourFds)) } : null,
    supervisor_handles: ours.length ? { from: ours[0].ourHandles, to: ours.at(-1)!.ourHandles } : null,
    cgroup_peak_bytes: peak, cgroup_oom_kills: oomKills, engine_peak_rss_bytes: stats?.memory.peakRssBytes ?? 0,
    planned_bytes: plannedBytes, max_engine_rss_bytes: Math.max(0, ...samples.map((x) => x.engineRss)),
  };
  if (flag('json')) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    const lines = [
      `soak: ${summary.model}, ${summary.minutes.toFixed(1)} min, ${chaos ? `${events.length} chaos events (${events.map((e) => e.what).join(', ')})` : 'no chaos'}`,
      `requests: ${tracked.length} (${completions} completions, ${turns} chat turns); unsettled: ${unsettled}`,
      `outcomes: ${Object.entries(byOutcome).map(([k, v]) => `${k} ${v}`).join(', ')}`,
      `longest answered: completion ${summary.longest_answered_ms.completion} ms, chat ${summary.longest_answered_ms.chat} ms; ` +
        `longest to settle (any outcome): ${longestSettle} ms; engine restarts: ${summary.restarts}`,
      ...Object.entries(errors).map(([k, v]) => `  ${v} × ${k}`),
      ...growth.map((g, i) => `engine life ${i + 1} after warm-up (${g.minutes.toFixed(1)} min): RSS ${mib(g.rssFrom)} → ${mib(g.rssTo)} ` +
        `(max ${mib(g.rssMax)}), JS heap ${mib(g.heapFrom)} → max ${mib(g.heapMax)}, fds ${g.fdsFrom} → ${g.fdsTo}`),
      summary.supervisor_fds ? `supervisor side: fds ${summary.supervisor_fds.from} → ${summary.supervisor_fds.to} (max ${summary.supervisor_fds.max}), ` +
        `handles ${summary.supervisor_handles!.from} → ${summary.supervisor_handles!.to}` : '',
      cgroup ? `memory cgroup of ${budgetMiB} MiB: peak ${mib(peak)} (${mib(budgetMiB * 2 ** 20 - peak)} below), OOM kills ${oomKills}` : '',
      `engine RSS: at most ${mib(summary.max_engine_rss_bytes)} in any sample; planned: ${mib(plannedBytes)} ` +
        `(${budgetMiB > 0 ? 'the budget' : 'weights + every slot\'s KV cache + scratch'})`,
    ];
    process.stdout.write(`${lines.filter(Boolean).join('\n')}\n`);
  }
  if (unsettled > 0 || oomKills > 0) process.exitCode = 1;
}

main().then(() => {
  // The supervisor is disposed and the engine gone; a timer of the typing emulation may still
  // be pending (one run lingered after its report), so end now.
  process.exit();
}, (err) => {
  process.stderr.write(`soak: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
