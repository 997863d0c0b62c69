import { randomUUID } from 'node:crypto';
import {
  type EventContract,
  notificationDeliveredV1,
  notificationDroppedV1,
  notificationFailedV1,
  notificationSentV1,
} from '@phonegate/contracts';
import type { EnvelopeCodec } from '@phonegate/messaging';
import type { DataSource } from 'typeorm';
import type { MessageStatus } from './message.entity';
import type { InsertResult, NewMessage, ReceiptResult } from './message-log';
import { clip, type OutboxWriter, TypeOrmMessageLog } from './typeorm-message.log';

const OUTCOME: Record<'sent' | 'delivered' | 'failed' | 'dropped', EventContract> = {
  sent: notificationSentV1,
  delivered: notificationDeliveredV1,
  failed: notificationFailedV1,
  dropped: notificationDroppedV1,
};

export interface PostgresMessageLogOptions {
  /** Builds the outcome events' envelopes (ids, time, correlation and trace ids). */
  codec: EnvelopeCodec;
  /** Tells the outbox relay that rows are waiting (it also polls). */
  kick?: () => void;
}

/**
 * The message log's hot path in plain PostgreSQL, one statement a step: the
 * guarded status change, its timeline step and, when other services must hear
 * of it, its outcome event in the outbox, together in one data-modifying CTE
 * (so atomic, as the outbox requires, without a transaction's extra round
 * trips). The outcome event's `data` is built from the changed row in the same
 * statement; its envelope attributes come from the bus's codec. Reads and rare
 * writes are the portable TypeORM ones.
 */
export class PostgresMessageLog extends TypeOrmMessageLog {
  constructor(
    dataSource: DataSource,
    outbox: OutboxWriter,
    private readonly pg: PostgresMessageLogOptions,
  ) {
    super(dataSource, outbox);
  }

  override async statusOf(
    id: string,
  ): Promise<{ status: MessageStatus; attempts: number } | undefined> {
    const rows = await this.dataSource.query<{ status: MessageStatus; attempts: number }[]>(
      'SELECT status, attempts FROM messages WHERE id = $1',
      [id],
    );
    return rows[0];
  }

  override async insertSending(message: NewMessage, at: Date): Promise<InsertResult> {
    const rows = await this.dataSource.query<unknown[]>(
      `WITH ins AS (
         INSERT INTO messages (id, dedupe_key, priority, channel, template, locale, account_id, destination_masked, destination_hash,
           subject, body, segments, encoding, status, attempts, not_after, requested_at, origin_service, origin_ref, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'sending', 1, $14, $15, $16, $17, $18, $18)
         ON CONFLICT DO NOTHING RETURNING id)
       INSERT INTO message_events (message_id, status, at)
       SELECT ins.id, s.status, s.at FROM ins CROSS JOIN (VALUES ('queued', $15::timestamptz, 1), ('sending', $18::timestamptz, 2)) AS s(status, at, ord)
       ORDER BY s.ord
       RETURNING message_id`,
      [
        message.id,
        message.dedupeKey ?? null,
        message.priority,
        message.channel,
        message.template,
        message.locale,
        message.accountId ?? null,
        message.destinationMasked ?? null,
        message.destinationHash ?? null,
        message.subject ?? null,
        message.body,
        message.segments ?? null,
        message.encoding ?? null,
        message.notAfter ?? null,
        message.requestedAt,
        message.origin?.service ?? null,
        message.origin?.ref ?? null,
        at,
      ],
    );
    if (rows.length > 0) return 'inserted';
    return (await this.statusOf(message.id)) ? 'exists' : 'duplicate';
  }

  override async markSending(id: string, at: Date): Promise<number | undefined> {
    const rows = await this.dataSource.query<{ attempts: number }[]>(
      `WITH upd AS (
         UPDATE messages SET status = 'sending', attempts = attempts + 1, updated_at = $2
         WHERE id = $1 AND status IN ('queued', 'sending') RETURNING id, attempts),
       ev AS (INSERT INTO message_events (message_id, status, at) SELECT id, 'sending', $2 FROM upd)
       SELECT attempts FROM upd`,
      [id, at],
    );
    return rows[0]?.attempts;
  }

  override async recordAttemptFailed(
    id: string,
    at: Date,
    reason: string,
    carrier?: string,
  ): Promise<void> {
    await this.dataSource.query(
      `WITH upd AS (UPDATE messages SET reason = $3, updated_at = $2 WHERE id = $1 RETURNING id)
       INSERT INTO message_events (message_id, status, at, reason, carrier) SELECT id, 'failed', $2, $3, $4 FROM upd`,
      [id, at, clip(reason), carrier ?? null],
    );
  }

  override async recordSent(
    id: string,
    at: Date,
    carrier: string,
    providerMessageId: string,
  ): Promise<boolean> {
    const rows = await this.step(
      `UPDATE messages SET status = 'sent', carrier = $1, provider_message_id = $2, reason = NULL, updated_at = $3
       WHERE id = $4 AND status IN ('queued', 'sending')`,
      [carrier, providerMessageId, at, id],
      'sent',
      at,
      carrier,
    );
    return rows.length > 0;
  }

  override async recordFinal(
    id: string,
    at: Date,
    status: 'failed' | 'dropped',
    reason: string,
    carrier?: string,
  ): Promise<boolean> {
    const rows = await this.step(
      `UPDATE messages SET status = $1, reason = $2, carrier = COALESCE($3, carrier), updated_at = $4
       WHERE id = $5 AND status IN ('queued', 'sending')`,
      [status, clip(reason), carrier ?? null, at, id],
      status,
      at,
      carrier,
      reason,
    );
    return rows.length > 0;
  }

  override async applyReceipt(
    carrier: string,
    providerMessageId: string,
    status: 'delivered' | 'failed',
    at: Date,
    reason?: string,
  ): Promise<ReceiptResult> {
    const rows = await this.step(
      `UPDATE messages SET status = $1, reason = COALESCE($2, reason), updated_at = $3
       WHERE carrier = $4 AND provider_message_id = $5 AND status IN ('sending', 'sent')`,
      [status, reason ? clip(reason) : null, at, carrier, providerMessageId],
      status,
      at,
      carrier,
      reason,
    );
    const row = rows[0];
    if (row) return { applied: true, messageId: row.id };
    const known = await this.dataSource.query<unknown[]>(
      'SELECT 1 FROM messages WHERE carrier = $1 AND provider_message_id = $2',
      [carrier, providerMessageId],
    );
    return { applied: false, why: known.length ? 'already_final' : 'unknown' };
  }

  /**
   * One guarded UPDATE (its WHERE is the state machine), its timeline step and, when
   * `outcome` is an event, the outbox row, as one statement. Returns the changed rows.
   */
  private async step(
    update: string,
    params: unknown[],
    status: MessageStatus,
    at: Date,
    carrier?: string,
    reason?: string,
  ): Promise<{ id: string }[]> {
    const contract = OUTCOME[status as keyof typeof OUTCOME];
    const n = params.length;
    const p = (i: number) => `$${n + i}`;
    const extra: unknown[] = [status, at, carrier ?? null, reason ? clip(reason) : null];
    let outbox = '';
    if (contract) {
      // The envelope as the codec makes it (ids, time, correlation, trace); `data` is set from the row below.
      const { envelope, routingKey } = this.pg.codec.event(contract, contract.example);
      extra.push(randomUUID(), routingKey, JSON.stringify(envelope));
      outbox = `,
       ob AS (
         INSERT INTO outbox (id, routing_key, envelope)
         SELECT ${p(5)}::uuid, ${p(6)}, jsonb_set(${p(7)}::jsonb, '{data}',
           jsonb_build_object('messageId', id, 'channel', channel, 'carrier', carrier, 'attempts', attempts)
           || CASE WHEN ${p(4)}::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('reason', ${p(4)}::text) END
           || CASE WHEN origin_service IS NULL THEN '{}'::jsonb
                   ELSE jsonb_build_object('origin', jsonb_strip_nulls(jsonb_build_object('service', origin_service, 'ref', origin_ref))) END)
         FROM upd)`;
    }
    const rows = await this.dataSource.query<{ id: string }[]>(
      `WITH upd AS (${update} RETURNING id, channel, carrier, attempts, origin_service, origin_ref),
       ev AS (
         INSERT INTO message_events (message_id, status, at, carrier, reason)
         SELECT id, ${p(1)}, ${p(2)}, ${p(3)}, ${p(4)} FROM upd)${outbox}
       SELECT id FROM upd`,
      [...params, ...extra],
    );
    if (rows.length && contract) this.pg.kick?.();
    return rows;
  }
}
