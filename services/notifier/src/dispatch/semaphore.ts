/** Bounds how many messages of one priority are worked on at once (FIFO waiters). */
export class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError('semaphore limit must be a positive integer');
  }

  get inUse(): number {
    return this.active;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolves when nothing runs or waits here, or after `timeoutMs`, whichever comes first. */
  whenIdle(timeoutMs: number): Promise<void> {
    if (this.active === 0 || timeoutMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const idle = this.idleWaiters;
      function done(): void {
        clearTimeout(timer);
        const i = idle.indexOf(done);
        if (i >= 0) idle.splice(i, 1);
        resolve();
      }
      idle.push(done);
    });
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiters.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else if (--this.active === 0 && this.idleWaiters.length) {
        const idle = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of idle) w();
      }
    }
  }
}
