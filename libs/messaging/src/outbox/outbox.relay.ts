import type { Envelope } from '@phonegate/contracts';
import type { Logger } from 'pino';
import type {
  DataSource,
  EntityManager,
  EntitySubscriberInterface,
  TransactionCommitEvent,
  TransactionRollbackEvent,
} from 'typeorm';
import { reconnectDelay, sleep } from '../backoff';
import type { EventBus } from '../event-bus';
import { OUTBOX_DIRTY } from './outbox';

export interface OutboxRelayOptions {
  dataSource: DataSource;
  /** The publisher; when it has `isHealthy()` and that is false, batches wait instead of locking rows while the bus is down. */
  bus: Pick<EventBus, 'publishEnvelope'> & Partial<Pick<EventBus, 'isHealthy'>>;
  logger: Logger;
  /** Poll period when idle. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Rows per transaction. Default 200. */
  batchSize?: number;
  /** Publish timeout per row (rows stay locked meanwhile). Default 10 s. */
  publishTimeoutMs?: number;
  /** Keep published rows (sent_at set) this long, e.g. for audit; 0 (default) deletes them as they are published. */
  retentionMs?: number;
  /** How often the purge runs. Default 1 hour. */
  purgeIntervalMs?: number;
  /** Polls scan from this long before the newest relayed row (late commits within it are found at once). Default 2 s. */
  scanMarginMs?: number;
  /** How often a poll scans the whole unsent index (late commits beyond the margin). Default 10 s. */
  fullScanIntervalMs?: number;
  /**
   * Per routing key, what a row's publish does when no queue is bound to it (a `mandatory`
   * return): `retry` re-sends it until the publish timeout, after which the row stays unsent and
   * is tried again at the next poll (never lost); `drop` counts it as published (the row goes).
   * Undefined, for a key or as a whole (the default), leaves it to the bus's own setting.
   */
  unroutable?: (routingKey: string) => 'retry' | 'drop' | undefined;
  /**
   * A row whose publish failed is not tried again by this relay before a back-off (this, doubling
   * per failure up to `retryBackoffMaxMs`, with jitter), and takes no place in the batches of
   * fresh rows meanwhile. Default 1 s.
   */
  retryBackoffMs?: number;
  /** The longest back-off. Default 60 s. */
  retryBackoffMaxMs?: number;
  /**
   * Due retries per poll, published after the fresh batch in their own transaction with a
   * publish timeout of at most `retryTimeoutMs` (default 1 s), so they do not hold up fresh rows
   * for the whole publish timeout. Default min(batchSize, 50).
   */
  retryBatchSize?: number;
  retryTimeoutMs?: number;
}

/** How often a relay waiting for the bus looks again. */
const BUS_RECHECK_MS = 250;
/** Rows in back-off remembered at most (the oldest entry goes first: that row is a fresh row again). */
const MAX_BACKING_OFF = 10_000;

/**
 * The wait before a row's next try after its `failures`-th failed publish: doubling from
 * `initialMs`, ±25 % jitter, never above `maxMs` (the bus's reconnect arithmetic).
 */
export function retryDelayMs(failures: number, initialMs: number, maxMs: number): number {
  return reconnectDelay(failures, {
    initialDelayMs: initialMs,
    maxDelayMs: maxMs,
    factor: 2,
    jitter: 0.25,
  });
}

interface Row {
  id: string;
  created_at: Date;
  routing_key: string;
  envelope: Envelope;
}

/**
 * Publishes outbox rows and marks them sent. Each batch is one transaction:
 * `SELECT … FOR UPDATE SKIP LOCKED`, publish with confirms, delete the
 * published rows (or, with a retention, set `sent_at`), commit; so several replicas share the work without sending a row twice in
 * normal operation. A relay that dies between publish and commit leaves its
 * rows unsent: they are published again (a duplicate the consumers' guard
 * absorbs), never lost. Runs on a timer and at once after a transaction that
 * wrote outbox rows commits (or on kick()). A row whose publish failed (e.g. no queue bound to
 * a key that must be retried) backs off: left out of the fresh batches, it is tried again in a
 * small batch of its own once due (in memory per relay: a restart tries it again at once).
 */
/** The reason of a wake-up (kick): nothing reads it. */
const KICKED = 'kicked';

export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: AbortController = new AbortController();
  private lastPurge = 0;
  /** The newest `created_at` relayed so far (database time), the start of the next scan. */
  private cursor: Date | undefined;
  private lastFullScan = 0;
  /** Rows whose publish failed: id → next try (epoch ms) and failures so far; insertion order = oldest failure first. */
  private readonly backingOff = new Map<string, { due: number; failures: number }>();
  private readonly logger: Logger;
  private readonly subscriber: EntitySubscriberInterface;

  constructor(private readonly options: OutboxRelayOptions) {
    this.logger = options.logger.child({ component: 'outbox-relay' });
    const kick = () => this.kick();
    this.subscriber = {
      afterTransactionCommit(event: TransactionCommitEvent) {
        const data = event.queryRunner.data as Record<string, unknown>;
        if (!data?.[OUTBOX_DIRTY] || event.queryRunner.isTransactionActive) return;
        data[OUTBOX_DIRTY] = false;
        kick();
      },
      afterTransactionRollback(event: TransactionRollbackEvent) {
        const data = event.queryRunner.data as Record<string, unknown>;
        if (data?.[OUTBOX_DIRTY] && !event.queryRunner.isTransactionActive)
          data[OUTBOX_DIRTY] = false;
      },
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.options.dataSource.subscribers.push(this.subscriber);
    this.loop = this.run();
  }

  /** Publish now (e.g. right after a commit) instead of at the next poll. */
  kick(): void {
    // Once per wake-up, with a reason of our own: abort() with none builds a DOMException (a
    // stack capture) on every call, even on a signal already aborted, and every commit kicks.
    if (!this.wakeUp.signal.aborted) this.wakeUp.abort(KICKED);
  }

  /** Stops polling and waits for the batch in progress. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const subs = this.options.dataSource.subscribers;
    const i = subs.indexOf(this.subscriber);
    if (i >= 0) subs.splice(i, 1);
    this.kick();
    await this.loop;
  }

  /**
   * One batch: returns how many rows were published and marked. The scan starts a margin
   * before the newest row already relayed: published rows leave dead entries at the old end of
   * the unsent index until a vacuum, and a scan from the very start walked thousands of them a
   * poll under load. A row whose transaction committed later than the margin is still found by
   * the full scan every `fullScanIntervalMs`.
   */
  async relayOnce(): Promise<number> {
    return (await this.poll()).published;
  }

  /** A batch of fresh rows, then the due retries; `selected` counts the fresh rows taken. */
  private async poll(): Promise<{ selected: number; published: number }> {
    const batchSize = this.options.batchSize ?? 200;
    const full =
      this.cursor === undefined ||
      Date.now() - this.lastFullScan >= (this.options.fullScanIntervalMs ?? 10_000);
    const from = full
      ? undefined
      : new Date(this.cursor!.getTime() - (this.options.scanMarginMs ?? 2_000));
    const waiting = [...this.backingOff.keys()];
    const due = this.dueRetries(batchSize); // before this poll's fresh failures join them
    const fresh = await this.options.dataSource.transaction(async (manager) => {
      const rows = await manager.query<Row[]>(
        `SELECT "id", "created_at", "routing_key", "envelope" FROM "outbox" WHERE "sent_at" IS NULL
           AND NOT ("id" = ANY($2::uuid[]))${from ? ` AND "created_at" >= $3` : ''}
         ORDER BY "created_at" LIMIT $1 FOR UPDATE SKIP LOCKED`,
        from ? [batchSize, waiting, from] : [batchSize, waiting],
      );
      // Set when the scan is done: a slow batch does not make the next poll a full scan.
      if (full) this.lastFullScan = Date.now();
      const newest = rows.at(-1)?.created_at;
      if (newest && (!this.cursor || new Date(newest) > this.cursor))
        this.cursor = new Date(newest);
      return {
        selected: rows.length,
        published: await this.publish(manager, rows, this.options.publishTimeoutMs ?? 10_000),
      };
    });
    return { selected: fresh.selected, published: fresh.published + (await this.retry(due)) };
  }

  /** The rows that waited out their back-off, oldest failure first, at most a retry batch. */
  private dueRetries(batchSize: number): string[] {
    const now = Date.now();
    const limit = this.options.retryBatchSize ?? Math.min(batchSize, 50);
    const due: string[] = [];
    for (const [id, entry] of this.backingOff) {
      if (due.length >= limit) break;
      if (entry.due <= now) due.push(id);
    }
    return due;
  }

  /** Publishes rows due for a retry in their own transaction, with a short timeout. */
  private async retry(due: string[]): Promise<number> {
    if (due.length === 0) return 0;
    const timeoutMs = Math.min(
      this.options.publishTimeoutMs ?? 10_000,
      this.options.retryTimeoutMs ?? 1_000,
    );
    return this.options.dataSource.transaction(async (manager) => {
      const rows = await manager.query<Row[]>(
        `SELECT "id", "created_at", "routing_key", "envelope" FROM "outbox" WHERE "sent_at" IS NULL
           AND "id" = ANY($1::uuid[]) ORDER BY "created_at" FOR UPDATE SKIP LOCKED`,
        [due],
      );
      // Not found: published meanwhile, or locked by another replica (which has it now).
      const found = new Set(rows.map((r) => r.id));
      for (const id of due) if (!found.has(id)) this.backingOff.delete(id);
      return this.publish(manager, rows, timeoutMs);
    });
  }

  /** Publishes rows with confirms, marks the published ones sent and the others failed (backing off); returns how many went. */
  private async publish(manager: EntityManager, rows: Row[], timeoutMs: number): Promise<number> {
    if (rows.length === 0) return 0;
    const policy = this.options.unroutable;
    const results = await Promise.allSettled(
      rows.map((row) => {
        const unroutable = policy?.(row.routing_key);
        return this.options.bus.publishEnvelope(
          row.envelope,
          row.routing_key,
          unroutable ? { timeoutMs, unroutable } : { timeoutMs },
        );
      }),
    );
    const sent: string[] = [];
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as Row;
      const result = results[i] as PromiseSettledResult<void>;
      if (result.status === 'fulfilled') {
        sent.push(row.id);
        this.backingOff.delete(row.id);
      } else {
        await this.markFailed(
          manager,
          row.id,
          String((result.reason as Error)?.message ?? result.reason),
        );
        this.backOff(row.id);
      }
    }
    if (sent.length) await this.markSent(manager, sent);
    return sent.length;
  }

  private backOff(id: string): void {
    const failures = (this.backingOff.get(id)?.failures ?? 0) + 1;
    this.backingOff.delete(id); // re-inserted last: the map's order stays oldest failure first
    if (this.backingOff.size >= MAX_BACKING_OFF) {
      const oldest = this.backingOff.keys().next();
      if (!oldest.done) this.backingOff.delete(oldest.value);
    }
    const delay = retryDelayMs(
      failures,
      this.options.retryBackoffMs ?? 1_000,
      this.options.retryBackoffMaxMs ?? 60_000,
    );
    this.backingOff.set(id, { due: Date.now() + delay, failures });
  }

  /** Deletes sent rows older than the retention; returns how many. */
  async purge(): Promise<number> {
    const retentionMs = this.options.retentionMs ?? 0;
    const rows = await this.options.dataSource.query<{ n: number }[]>(
      `WITH deleted AS (DELETE FROM "outbox" WHERE "sent_at" IS NOT NULL AND "sent_at" < $1 RETURNING 1)
       SELECT count(*)::int AS "n" FROM deleted`,
      [new Date(Date.now() - retentionMs)],
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * The mark step (a separate method so fault-injection tests can make it fail). Without a
   * retention the published rows are deleted: the table stays as small as the backlog. Rows
   * marked sent and kept stay as dead entries in the unsent index until a vacuum, and under
   * a sale-day load every poll walked thousands of them (PostgreSQL's biggest cost per code).
   */
  protected async markSent(manager: EntityManager, ids: string[]): Promise<void> {
    if (!this.keepsSentRows()) {
      await manager.query(`DELETE FROM "outbox" WHERE "id" = ANY($1::uuid[])`, [ids]);
      return;
    }
    await manager.query(
      `UPDATE "outbox" SET "sent_at" = now(), "attempts" = "attempts" + 1 WHERE "id" = ANY($1::uuid[])`,
      [ids],
    );
  }

  private keepsSentRows(): boolean {
    return (this.options.retentionMs ?? 0) > 0;
  }

  protected async markFailed(manager: EntityManager, id: string, error: string): Promise<void> {
    await manager.query(
      `UPDATE "outbox" SET "attempts" = "attempts" + 1, "last_error" = $2 WHERE "id" = $1`,
      [id, error.slice(0, 1000)],
    );
  }

  private async run(): Promise<void> {
    const poll = this.options.pollIntervalMs ?? 1_000;
    let failures = 0;
    let busDownSince: number | undefined;
    while (this.running) {
      if (this.options.bus.isHealthy?.() === false) {
        // Nothing to try while the bus is down, and not a failure of ours: said once, and looked
        // at again every BUS_RECHECK_MS, so the rows go out at once when it is back. (Counted as
        // failures, every commit's kick logged a warning, 30 a second in the crash drill, and
        // the back-off grew to 30 s: an idle service's rows waited that long after the broker
        // was back.)
        if (busDownSince === undefined) {
          busDownSince = Date.now();
          this.logger.warn('bus not connected; outbox rows wait');
        }
        await sleep(Math.min(poll, BUS_RECHECK_MS));
        continue;
      }
      if (busDownSince !== undefined) {
        this.logger.info(
          { waitedMs: Date.now() - busDownSince },
          'bus connected again; outbox relay resumes',
        );
        busDownSince = undefined;
        failures = 0;
        this.backingOff.clear(); // rows that failed because of the outage go at once
      }
      const signal = this.wakeUp.signal;
      let full = false;
      try {
        const { selected, published: n } = await this.poll();
        full = selected >= (this.options.batchSize ?? 200);
        failures = 0;
        if (n > 0) this.logger.debug({ published: n }, 'outbox rows published');
        await this.maybePurge();
      } catch (error) {
        failures++;
        this.logger.warn({ err: (error as Error).message, failures }, 'outbox relay batch failed');
      }
      if (!this.running) break;
      if (full) continue; // backlog: next batch at once
      if (signal.aborted) this.wakeUp = new AbortController();
      else await sleep(failures ? Math.min(poll * 2 ** failures, 30_000) : poll, signal);
      if (this.wakeUp.signal.aborted) this.wakeUp = new AbortController();
    }
  }

  private async maybePurge(): Promise<void> {
    const every = this.options.purgeIntervalMs ?? 3600_000;
    if (!this.keepsSentRows() || Date.now() - this.lastPurge < every) return;
    this.lastPurge = Date.now();
    const n = await this.purge();
    if (n > 0) this.logger.info({ deleted: n }, 'outbox purged');
  }
}
