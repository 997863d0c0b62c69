import type { Logger } from '@phonegate/platform';
import { Brackets, type DataSource } from 'typeorm';
import { MessageRecord } from '../messages/message.entity';

/**
 * How long a `sending` row untouched by its holder stays claimed. Below two thirds of the Redis
 * lock's TTL (5 s, renewed every third of it): when a crashed worker's Redis lock has run out,
 * its row's claim has too, so Redis-up recovery after a crash waits no longer than before.
 */
export const CLAIM_LEASE_MS = 3_000;

/** The database's clock, read when the statement runs (not the transaction's start). */
const DB_NOW = 'clock_timestamp()';

/**
 * One worker at a time per message, in the message log itself: whoever moves the row to
 * `sending` holds it. The insert of a new row as `sending` is the first claim; a delivery that
 * finds the row already there takes it only from `queued`, or from a `sending` row whose claim
 * nobody has renewed for `leaseMs` (its worker died: the message must still go out). The holder
 * renews the claim every third of the lease while it works on the message (`keep`).
 *
 * Every time here is the database's (`claimed_at`, set on insert and here, compared with the
 * database's clock in the same statement): replicas whose clocks disagree still agree on who
 * holds a message, so a live claim is never taken over and a dead one is not held past its lease.
 *
 * The Redis lock (`MessageLocks`) stays the fast path that turns most duplicates away without
 * a write; this is what still holds when Redis is down (the lock then fails open) or comes
 * back while a worker that went without it is mid-send.
 */
export class MessageClaims {
  constructor(
    private readonly dataSource: DataSource,
    private readonly logger: Logger,
    readonly leaseMs = CLAIM_LEASE_MS,
  ) {}

  /** Moves the row to `sending` unless another worker holds it; false when it is not to be had (held or finished). */
  async claim(id: string): Promise<boolean> {
    const result = await this.dataSource
      .createQueryBuilder()
      .update(MessageRecord)
      .set({ status: 'sending', claimedAt: () => DB_NOW })
      .where({ id })
      .andWhere(
        new Brackets((w) =>
          w
            .where("status = 'queued'")
            .orWhere(
              `status = 'sending' AND claimed_at <= ${DB_NOW} - CAST(:leaseMs AS double precision) * interval '1 millisecond'`,
              { leaseMs: this.leaseMs },
            ),
        ),
      )
      .execute();
    return (result.affected ?? 0) > 0;
  }

  /** Keeps this worker's claim on a `sending` row fresh until the returned function is called. */
  keep(id: string): () => void {
    const timer = setInterval(
      () => {
        this.dataSource
          .createQueryBuilder()
          .update(MessageRecord)
          .set({ claimedAt: () => DB_NOW })
          .where({ id, status: 'sending' })
          .execute()
          .catch((error: unknown) =>
            this.logger.warn(
              { messageId: id, err: (error as Error).message },
              'message claim not renewed',
            ),
          );
      },
      Math.max(100, Math.floor(this.leaseMs / 3)),
    );
    timer.unref();
    return () => clearInterval(timer);
  }
}
