export interface CallBatcherOptions {
  /** Most calls one batch carries. */
  maxBatch: number;
  /** Batches of this kind running at once; calls arriving while all run wait for the next. */
  maxInFlight: number;
}

interface Pending<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

/**
 * Group commit for one kind of call (a SQL statement, a Redis script). A call made while a
 * slot is free runs on the next turn of the event loop (with whatever else arrived in that
 * turn); calls made while every slot is busy wait and go together as one batch when a slot
 * frees up. No timer: an idle batcher adds no latency, a busy one turns many round trips (and
 * WAL flushes) into one.
 *
 * `runBatch` answers one result per item, in order. When a batch of several fails, each of its
 * items is run again on its own, so one bad item (or an ambiguous failure) fails only itself.
 */
export class CallBatcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly runBatch: (items: readonly I[]) => Promise<O[]>,
    private readonly options: CallBatcherOptions,
  ) {
    if (options.maxBatch < 1 || options.maxInFlight < 1)
      throw new RangeError('maxBatch and maxInFlight must be at least 1');
  }

  run(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.options.maxInFlight || !this.queue.length) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.inFlight++;
      void this.execute(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }

  private async execute(batch: Pending<I, O>[]): Promise<void> {
    try {
      const results = await this.runBatch(batch.map((p) => p.item));
      batch.forEach((p, i) => p.resolve(results[i] as O));
      return;
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
    }
    await Promise.all(
      batch.map(async (p) => {
        try {
          const [result] = await this.runBatch([p.item]);
          p.resolve(result as O);
        } catch (error) {
          p.reject(error);
        }
      }),
    );
  }
}
