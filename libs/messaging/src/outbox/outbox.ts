import { randomUUID } from 'node:crypto';
import type { Envelope, EventContract, EventData } from '@phonegate/contracts';
import type { EntityManager } from 'typeorm';
import type { EnvelopeCodec, PublishOptions } from '../envelope';
import { BusError } from '../errors';

/** Key in `queryRunner.data` telling the relay's commit hook that this transaction wrote outbox rows. */
export const OUTBOX_DIRTY = 'phonegate.outboxDirty';

/**
 * Writes events into the `outbox` table inside the caller's transaction, so
 * they are published if and only if the business change commits (SECURITY M5).
 */
export class Outbox {
  constructor(private readonly codec: EnvelopeCodec) {}

  /**
   * Validates `data`, encrypts its sensitive fields and inserts the envelope
   * with `manager` (which must be in a transaction). Returns the envelope (its
   * `id` is the event id consumers deduplicate on).
   */
  async add<C extends EventContract>(
    manager: EntityManager,
    contract: C,
    data: EventData<C>,
    opts: PublishOptions = {},
  ): Promise<Envelope> {
    const runner = manager.queryRunner;
    if (!runner?.isTransactionActive) {
      throw new BusError(
        'Outbox.add must run inside a transaction (dataSource.transaction(manager => ...))',
      );
    }
    const { envelope, routingKey } = this.codec.event(contract, data, opts);
    await manager.query(
      `INSERT INTO "outbox" ("id", "routing_key", "envelope") VALUES ($1, $2, $3::jsonb)`,
      [randomUUID(), routingKey, JSON.stringify(envelope)],
    );
    runner.data = { ...runner.data, [OUTBOX_DIRTY]: true };
    return envelope;
  }
}
