// The scheduler with jobs that wait until the test lets them finish: one job at a time in order,
// a newer completion replacing older ones for its document, warm-ups giving way to anything,
// cancellation before and during a job, and the bounded queue.
import assert from 'node:assert/strict';
import { CancellationTokenSource, ResponseError } from 'vscode-jsonrpc';
import { EngineErrorCodes } from './protocol';
import { Scheduler, type JobSpec, type RunningJob } from './scheduler';

/** A job that runs until finish() (or, once cancelled, until its onCancel stops it). */
function job(kind: JobSpec<string>['kind'], name: string, log: string[], documentId?: string, token?: CancellationTokenSource) {
  let finish!: () => void;
  let running: RunningJob | undefined;
  const spec: JobSpec<string> = {
    kind, documentId, token: token?.token,
    run: (r) => {
      running = r;
      log.push(`start ${name}`);
      return new Promise<string>((resolve) => {
        finish = () => resolve(name);
        r.onCancel = () => {
          log.push(`stop ${name}`);
          resolve(name);
        };
      });
    },
  };
  return { spec, finish: () => finish(), get running() { return running; } };
}

const tick = () => new Promise((r) => setImmediate(r));
const code = (e: unknown) => (e instanceof ResponseError ? e.code : undefined);

describe('scheduler', () => {
  it('runs one job at a time, in order', async () => {
    const s = new Scheduler();
    const log: string[] = [];
    const a = job('chat', 'a', log), b = job('chat', 'b', log);
    const pa = s.submit(a.spec), pb = s.submit(b.spec);
    await tick();
    assert.deepEqual(log, ['start a']);
    assert.deepEqual(s.stats, { running: 1, queued: 1, limit: 32, completed: 0, cancelled: 0, failed: 0 });
    a.finish();
    assert.equal(await pa, 'a');
    await tick();
    assert.deepEqual(log, ['start a', 'start b']);
    b.finish();
    assert.equal(await pb, 'b');
    await tick();
    assert.equal(s.idle, true);
  });

  it('replaces an older completion for the same document: queued ones are superseded, a running one is stopped', async () => {
    const s = new Scheduler();
    const log: string[] = [];
    const chat = job('chat', 'chat', log);
    const first = job('completion', 'first', log, 'doc');
    const pChat = s.submit(chat.spec);
    const pFirst = s.submit(first.spec);
    const second = job('completion', 'second', log, 'doc');
    const pSecond = s.submit(second.spec);
    await assert.rejects(pFirst, (e) => code(e) === EngineErrorCodes.Superseded);
    const other = job('completion', 'other', log, 'other-doc');
    const pOther = s.submit(other.spec);
    chat.finish();
    await pChat;
    await tick();
    assert.equal(log.at(-1), 'start second');
    const third = job('completion', 'third', log, 'doc');
    const pThird = s.submit(third.spec);
    assert.equal(log.at(-1), 'stop second', 'the running completion is stopped at once');
    await assert.rejects(pSecond, (e) => code(e) === EngineErrorCodes.RequestCancelled);
    await tick();
    other.finish();
    assert.equal(await pOther, 'other', 'another document is not touched');
    await tick();
    third.finish();
    assert.equal(await pThird, 'third');
  });

  it('lets warm-ups give way to any newer job, settling them quietly', async () => {
    const s = new Scheduler();
    const log: string[] = [];
    const warmRunning = job('warm', 'warm1', log, 'doc');
    const p1 = s.submit(warmRunning.spec);
    await tick();
    const chat = job('chat', 'chat', log);
    const p2 = s.submit(chat.spec);
    assert.equal(await p1, undefined, 'a stopped warm-up resolves; nobody waits for its error');
    assert.ok(log.includes('stop warm1'));
    await tick();
    const warmQueued = job('warm', 'warm2', log, 'doc');
    const p3 = s.submit(warmQueued.spec);
    const next = job('completion', 'c', log, 'doc2');
    const p4 = s.submit(next.spec);
    assert.equal(await p3, undefined);
    chat.finish();
    await p2;
    await tick();
    next.finish();
    await p4;
    assert.ok(!log.includes('start warm2'), 'the queued warm-up never ran');
  });

  it('cancels a job whose token is cancelled before it starts, while queued, or while running', async () => {
    const s = new Scheduler();
    const log: string[] = [];
    const early = new CancellationTokenSource();
    early.cancel();
    await assert.rejects(s.submit(job('chat', 'early', log, undefined, early).spec), (e) => code(e) === EngineErrorCodes.RequestCancelled);
    const runningToken = new CancellationTokenSource();
    const queuedToken = new CancellationTokenSource();
    const a = job('chat', 'a', log, undefined, runningToken);
    const b = job('chat', 'b', log, undefined, queuedToken);
    const pa = s.submit(a.spec), pb = s.submit(b.spec);
    await tick();
    queuedToken.cancel();
    await assert.rejects(pb, (e) => code(e) === EngineErrorCodes.RequestCancelled);
    runningToken.cancel();
    await assert.rejects(pa, (e) => code(e) === EngineErrorCodes.RequestCancelled);
    assert.deepEqual(log, ['start a', 'stop a']);
    assert.equal(s.stats.cancelled, 3);
  });

  it('refuses work beyond its queue limit with QueueFull', async () => {
    const s = new Scheduler(2);
    const log: string[] = [];
    const jobs = [0, 1, 2].map((i) => job('chat', `j${i}`, log));
    const settled = jobs.map((j) => s.submit(j.spec));
    await tick();
    // One runs, two wait: the queue is full.
    await assert.rejects(s.submit(job('chat', 'extra', log).spec), (e) => code(e) === EngineErrorCodes.QueueFull);
    for (const [i, j] of jobs.entries()) {
      while (!log.includes(`start j${i}`)) await tick();
      j.finish();
    }
    assert.deepEqual(await Promise.all(settled), ['j0', 'j1', 'j2']);
  });

  it('counts a job that throws as failed and goes on with the next', async () => {
    const s = new Scheduler();
    const failing = s.submit({ kind: 'chat', run: () => { throw new Error('native failure'); } });
    const log: string[] = [];
    const next = job('chat', 'next', log);
    const pNext = s.submit(next.spec);
    await assert.rejects(failing, /native failure/);
    await tick();
    next.finish();
    assert.equal(await pNext, 'next');
    assert.equal(s.stats.failed, 1);
  });
});
