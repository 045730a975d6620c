// When to give the model's memory back: after a stretch with no request at all (no completion,
// no chat), never while one runs. The unloading itself and what the status bar says are the
// caller's; this holds only the clock, so that it can be tested without an engine or VS Code.

export interface IdleUnloadOptions {
  /** Minutes without a request before unloading; 0 or less: never. Read each time the clock starts. */
  minutes: () => number;
  /** Unloads; resolves true if it did (the engine may refuse while busy). */
  unload: () => Promise<boolean>;
  /** Called after an unload, with the minutes that passed. */
  onUnloaded?: (minutes: number) => void;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

export class IdleUnload {
  private running = 0;
  private timer: unknown;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(private readonly options: IdleUnloadOptions) {
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms).unref());
    this.clearTimer = options.clearTimer ?? ((h) => clearTimeout(h as NodeJS.Timeout));
  }

  /** A request starts; call the returned function when it has ended (however it ended). */
  begin(): () => void {
    this.running++;
    this.stop();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.running--;
      if (this.running === 0) this.start();
    };
  }

  /** (Re)starts the clock, e.g. once a model is loaded. */
  start(): void {
    this.stop();
    const minutes = this.options.minutes();
    if (!(minutes > 0) || this.running > 0) return;
    this.timer = this.setTimer(() => {
      this.timer = undefined;
      if (this.running > 0) return;
      void this.options.unload().then((done) => {
        if (done) this.options.onUnloaded?.(minutes);
      }, () => undefined);
    }, minutes * 60_000);
  }

  /** Stops the clock (a request runs, the model is being replaced, the extension goes away). */
  stop(): void {
    if (this.timer !== undefined) this.clearTimer(this.timer);
    this.timer = undefined;
  }
}
