/** Why a bulkhead would not let a call in. */
export class BulkheadRejectedError extends Error {
  override readonly name = 'BulkheadRejectedError';
  constructor(readonly reason: 'queue_full' | 'wait_timeout' | 'aborted') {
    super(`bulkhead: ${reason}`);
  }
}

interface Waiter {
  urgent: boolean;
  grant(): void;
  fail(reason: BulkheadRejectedError['reason']): void;
}

/**
 * At most `maxConcurrent` calls at once; up to `maxQueue` more wait for at most their wait
 * time; the rest are refused at once, so one slow carrier cannot hold every worker.
 *
 * Urgent calls (codes) come first: they wait ahead of ordinary ones, a freed slot goes to an
 * urgent waiter before any ordinary one, and ordinary calls (order updates) never hold more
 * than `maxConcurrent - reserved` slots, so a code always finds a slot free or soon free and
 * never waits behind bulk traffic at the carrier.
 */
export class Bulkhead {
  private active = 0;
  private activeOrdinary = 0;
  private readonly urgentWaiting: Waiter[] = [];
  private readonly ordinaryWaiting: Waiter[] = [];
  readonly ordinaryLimit: number;

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueue: number,
    /** Slots ordinary calls may not take. Default a quarter of maxConcurrent (none when it is 1). */
    reserved = Math.floor(maxConcurrent / 4),
  ) {
    if (maxConcurrent < 1) throw new RangeError('maxConcurrent must be at least 1');
    this.ordinaryLimit = Math.max(1, maxConcurrent - Math.max(0, reserved));
  }

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.urgentWaiting.length + this.ordinaryWaiting.length;
  }

  private admits(urgent: boolean): boolean {
    if (this.active >= this.maxConcurrent) return false;
    if (urgent) return true;
    return this.urgentWaiting.length === 0 && this.activeOrdinary < this.ordinaryLimit;
  }

  /** Resolves with a release function (call it once), or rejects with BulkheadRejectedError. */
  acquire(waitMs: number, signal?: AbortSignal, urgent = false): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new BulkheadRejectedError('aborted'));
    const queue = urgent ? this.urgentWaiting : this.ordinaryWaiting;
    // An ordinary call does not pass ordinary ones already waiting (FIFO within a class).
    if (this.admits(urgent) && (urgent || queue.length === 0))
      return Promise.resolve(this.take(urgent));
    if (this.queued >= this.maxQueue || waitMs <= 0)
      return Promise.reject(new BulkheadRejectedError('queue_full'));
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
      };
      const waiter: Waiter = {
        urgent,
        grant: () => {
          done();
          resolve(this.take(urgent));
        },
        fail: (reason) => {
          done();
          reject(new BulkheadRejectedError(reason));
        },
      };
      const onAbort = (): void => waiter.fail('aborted');
      const timer = setTimeout(() => waiter.fail('wait_timeout'), waitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });
  }

  private take(urgent: boolean): () => void {
    this.active++;
    if (!urgent) this.activeOrdinary++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      if (!urgent) this.activeOrdinary--;
      this.grantNext();
    };
  }

  /** Hands free slots to waiters: urgent ones first, ordinary ones within their limit. */
  private grantNext(): void {
    for (;;) {
      const urgent = this.urgentWaiting[0];
      if (urgent && this.admits(true)) {
        urgent.grant();
        continue;
      }
      const ordinary = this.ordinaryWaiting[0];
      if (ordinary && this.admits(false)) {
        ordinary.grant();
        continue;
      }
      return;
    }
  }
}
