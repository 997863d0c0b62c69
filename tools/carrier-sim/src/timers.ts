/** Timers that `stop()` can cancel all at once, so a stopped simulator leaves nothing running. */
export class TimerSet {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sleepers = new Set<() => void>();
  private stopped = false;

  /** Runs fn after ms unless cancelled; returns false if already stopped. */
  after(ms: number, fn: () => void): boolean {
    if (this.stopped) return false;
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        fn();
      },
      Math.max(0, ms),
    );
    this.timers.add(timer);
    return true;
  }

  /** Resolves after ms (immediately when ms ≤ 0), or at once on stop: callers check `isStopped` after it. */
  sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        this.sleepers.delete(wake);
        resolve();
      };
      this.sleepers.add(wake);
      this.after(ms, wake);
    });
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const wake of [...this.sleepers]) wake();
  }
}
