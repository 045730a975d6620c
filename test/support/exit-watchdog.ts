// A root hook for both mocha suites: once every test has run, the process should end by itself.
// If something still holds the event loop a minute later (a child process, a socket, a timer a
// test forgot), say what it is, with the child processes still running, and end, instead of
// leaving CI waiting until its own time limit with nothing in the log to say why. The exit
// code stays mocha's (its failure count): the leak is reported loudly but does not turn a
// passing run red; .ci/run then lists and kills whatever outlived the phase.
import fs from 'node:fs';

const GRACE_MS = 60_000;

/** This process's children, with their command lines (Linux /proc; elsewhere none). */
function children(): string[] {
  const out: string[] = [];
  try {
    for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid !== process.pid) continue;
        out.push(`${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 300)}`);
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    // no /proc
  }
  return out;
}

export const mochaHooks = {
  afterAll(): void {
    setTimeout(() => {
      const handles = (process as unknown as { _getActiveHandles(): Array<{ constructor?: { name?: string }; fd?: number; _handle?: { fd?: number } }> })
        ._getActiveHandles()
        .map((h) => `${h.constructor?.name ?? typeof h}${h._handle?.fd !== undefined ? ` (fd ${h._handle.fd})` : ''}`);
      const kids = children();
      process.stderr.write(`mocha: WARNING: still running ${GRACE_MS / 1000} s after the last test; what holds it: ${handles.join(', ') || 'nothing visible'}` +
        `${kids.length ? `\nmocha: child processes still running:\n  ${kids.join('\n  ')}` : ''}\nmocha: ending now\n`);
      process.exit();
    }, GRACE_MS).unref();
  },
};
