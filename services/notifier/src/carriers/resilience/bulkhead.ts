/** Why a bulkhead would not let a call in. */
export class BulkheadRejectedError extends Error {
  override readonly name = 'BulkheadRejectedError';
  constructor(readonly reason: 'queue_full' | 'wait_timeout' | 'aborted') {
    super(`bulkhead: ${reason}`);
  }
}

interface Waiter {
  grant(): void;
  fail(reason: BulkheadRejectedError['reason']): void;
}

/**
 * At most `maxConcurrent` calls at once; up to `maxQueue` more wait (FIFO) for at most their
 * wait time; the rest are refused at once, so one slow carrier cannot hold every worker.
 */
export class Bulkhead {
  private active = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueue: number,
  ) {
    if (maxConcurrent < 1) throw new RangeError('maxConcurrent must be at least 1');
  }

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves with a release function (call it once), or rejects with BulkheadRejectedError. */
  acquire(waitMs: number, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new BulkheadRejectedError('aborted'));
    if (this.active < this.maxConcurrent) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.maxQueue || waitMs <= 0)
      return Promise.reject(new BulkheadRejectedError('queue_full'));
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
      };
      const waiter: Waiter = {
        grant: () => {
          done();
          resolve(this.releaser());
        },
        fail: (reason) => {
          done();
          reject(new BulkheadRejectedError(reason));
        },
      };
      const onAbort = (): void => waiter.fail('aborted');
      const timer = setTimeout(() => waiter.fail('wait_timeout'), waitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting[0];
      if (next)
        next.grant(); // the slot passes straight to the next waiter
      else this.active--;
    };
  }
}
