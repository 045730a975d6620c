// A root hook for both mocha suites: once every test has run, the process should end by itself.
// If something still holds the event loop a minute later (a child process, a socket, a timer a
// test forgot), say what it is and end with a failure, instead of leaving CI waiting until its
// own time limit with nothing in the log to say why.
const GRACE_MS = 60_000;

export const mochaHooks = {
  afterAll(): void {
    setTimeout(() => {
      const handles = (process as unknown as { _getActiveHandles(): object[] })._getActiveHandles()
        .map((h) => h.constructor?.name ?? typeof h);
      process.stderr.write(`mocha: still running ${GRACE_MS / 1000} s after the last test; what holds it: ${handles.join(', ') || 'nothing visible'}\n`);
      // mocha sets the exit code to its failure count on 'exit'; this listener comes after its own.
      process.on('exit', () => (process.exitCode = 3));
      process.exit(3);
    }, GRACE_MS).unref();
  },
};
