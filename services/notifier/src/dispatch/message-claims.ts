import type { Clock, Logger } from '@phonegate/platform';
import { Brackets, type DataSource } from 'typeorm';
import { MessageRecord } from '../messages/message.entity';

/**
 * How long a `sending` row untouched by its holder stays claimed. Below two thirds of the Redis
 * lock's TTL (5 s, renewed every third of it): when a crashed worker's Redis lock has run out,
 * its row's claim has too, so Redis-up recovery after a crash waits no longer than before.
 */
export const CLAIM_LEASE_MS = 3_000;

/**
 * One worker at a time per message, in the message log itself: whoever moves the row to
 * `sending` holds it. The insert of a new row as `sending` is the first claim; a delivery that
 * finds the row already there takes it only from `queued`, or from a `sending` row nobody has
 * touched for `leaseMs` (its worker died: the message must still go out). The holder touches
 * the row every third of the lease while it works on the message (`keep`).
 *
 * The Redis lock (`MessageLocks`) stays the fast path that turns most duplicates away without
 * a write; this is what still holds when Redis is down (the lock then fails open) or comes
 * back while a worker that went without it is mid-send.
 */
export class MessageClaims {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly logger: Logger,
    readonly leaseMs = CLAIM_LEASE_MS,
  ) {}

  /** Moves the row to `sending` unless another worker holds it; false when it is not to be had (held or finished). */
  async claim(id: string): Promise<boolean> {
    const now = this.clock.nowMs();
    const result = await this.dataSource
      .createQueryBuilder()
      .update(MessageRecord)
      .set({ status: 'sending', updatedAt: new Date(now) })
      .where({ id })
      .andWhere(
        new Brackets((w) =>
          w
            .where("status = 'queued'")
            .orWhere("status = 'sending' AND updated_at <= :staleBefore", {
              staleBefore: new Date(now - this.leaseMs),
            }),
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
          .set({ updatedAt: this.clock.now() })
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
