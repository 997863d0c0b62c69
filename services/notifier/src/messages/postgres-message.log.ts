import { randomUUID } from 'node:crypto';
import {
  type Channel,
  type EventContract,
  notificationDeliveredV1,
  notificationDroppedV1,
  notificationFailedV1,
  notificationSentV1,
  type Priority,
} from '@phonegate/contracts';
import type { EnvelopeCodec } from '@phonegate/messaging';
import type { Pool, QueryConfig, QueryResultRow } from 'pg';
import type { DataSource } from 'typeorm';
import type { MessageStatus } from './message.entity';
import type { AttemptStep, InsertResult, NewMessage, ReceiptResult } from './message-log';
import { CallBatcher, type CallBatcherOptions } from '../batching/call-batcher';
import { clip, type OutboxWriter, TypeOrmMessageLog } from './typeorm-message.log';

type Outcome = 'sent' | 'delivered' | 'failed' | 'dropped';

const OUTCOME: Record<Outcome, EventContract> = {
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
  /** How the hot statements are gathered (default: 2 at once of each kind, up to 200 rows each). */
  batching?: CallBatcherOptions;
}

/**
 * The outcome event of the changed row `upd` (which must return `event_id`, `envelope`,
 * `routing_key`, `reason` and the row's columns): the codec's envelope with `data` built from the row.
 */
const OUTBOX_FROM_UPD = `
  INSERT INTO outbox (id, routing_key, envelope)
  SELECT upd.event_id, upd.routing_key, jsonb_set(upd.envelope, '{data}',
    jsonb_build_object('messageId', upd.id, 'channel', upd.channel, 'carrier', upd.carrier, 'attempts', upd.attempts)
    || CASE WHEN upd.event_reason IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('reason', upd.event_reason) END
    || CASE WHEN upd.origin_service IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('origin', jsonb_strip_nulls(jsonb_build_object('service', upd.origin_service, 'ref', upd.origin_ref))) END)
  FROM upd WHERE upd.event_id IS NOT NULL`;

const UPD_RETURNING = 'm.id, m.channel, m.carrier, m.attempts, m.origin_service, m.origin_ref';

/**
 * The hot statements, prepared once per connection (PostgreSQL parses and plans them once).
 * Each takes one array per column, so one statement carries a whole batch.
 */
const SQL = {
  insertSending: `
    WITH v AS (
      SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
        $9::text[], $10::text[], $11::text[], $12::int[], $13::text[], $14::timestamptz[], $15::timestamptz[], $16::text[],
        $17::text[], $18::timestamptz[])
        AS v(id, dedupe_key, priority, channel, template, locale, account_id, destination_masked, destination_hash,
             subject, body, segments, encoding, not_after, requested_at, origin_service, origin_ref, at)),
    ins AS (
      INSERT INTO messages (id, dedupe_key, priority, channel, template, locale, account_id, destination_masked, destination_hash,
        subject, body, segments, encoding, status, attempts, not_after, requested_at, origin_service, origin_ref, created_at, updated_at)
      SELECT id, dedupe_key, priority, channel, template, locale, account_id, destination_masked, destination_hash,
        subject, body, segments, encoding, 'sending', 1, not_after, requested_at, origin_service, origin_ref, at, at FROM v
      ON CONFLICT DO NOTHING
      RETURNING id, requested_at, created_at),
    ev AS (
      INSERT INTO message_events (message_id, status, at)
      SELECT ins.id, s.status, CASE s.ord WHEN 1 THEN ins.requested_at ELSE ins.created_at END
      FROM ins CROSS JOIN (VALUES ('queued', 1), ('sending', 2)) AS s(status, ord)
      ORDER BY ins.id, s.ord)
    SELECT id FROM ins`,
  statusOf: 'SELECT status, attempts FROM messages WHERE id = $1',
  markSending: `
    WITH upd AS (
      UPDATE messages SET status = 'sending', attempts = attempts + 1, updated_at = $2
      WHERE id = $1 AND status IN ('queued', 'sending') RETURNING id, attempts),
    ev AS (INSERT INTO message_events (message_id, status, at) SELECT id, 'sending', $2 FROM upd)
    SELECT attempts FROM upd`,
  attemptFailed: `
    WITH upd AS (UPDATE messages SET reason = $3, updated_at = $2 WHERE id = $1 RETURNING id)
    INSERT INTO message_events (message_id, status, at, reason, carrier)
    SELECT upd.id, 'sending', $2, s.reason, s.carrier
    FROM upd CROSS JOIN unnest($4::text[], $5::text[]) WITH ORDINALITY AS s(reason, carrier, ord)
    ORDER BY s.ord`,
  recordSent: `
    WITH v AS (
      SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::uuid[], $6::jsonb[], $7::int[], $8::text[])
        AS v(id, carrier, provider_message_id, at, event_id, envelope, ord, step_reason)),
    upd AS (
      UPDATE messages m SET status = 'sent', carrier = v.carrier, provider_message_id = v.provider_message_id,
        reason = NULL, updated_at = v.at
      FROM v WHERE m.id = v.id AND m.status IN ('queued', 'sending')
      RETURNING ${UPD_RETURNING}, v.at, v.event_id, v.envelope, 'notification.sent.v1'::text AS routing_key,
        NULL::text AS event_reason, v.ord, v.step_reason),
    ev AS (
      INSERT INTO message_events (message_id, status, at, carrier, reason)
      SELECT id, 'sent', at, carrier, step_reason FROM upd),
    ob AS (${OUTBOX_FROM_UPD})
    SELECT ord FROM upd`,
  recordFinal: `
    WITH upd AS (
      UPDATE messages m SET status = $1, reason = $2, carrier = COALESCE($3, m.carrier), updated_at = $4
      WHERE m.id = $5 AND m.status IN ('queued', 'sending')
      RETURNING ${UPD_RETURNING}, $6::uuid AS event_id, $7::jsonb AS envelope, $8::text AS routing_key,
        $2::text AS event_reason),
    ev AS (
      INSERT INTO message_events (message_id, status, at, carrier, reason) SELECT id, $1, $4, $3, $2 FROM upd),
    ob AS (${OUTBOX_FROM_UPD})
    SELECT id FROM upd`,
  applyReceipts: `
    WITH v AS (
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::uuid[], $7::jsonb[], $8::text[], $9::int[])
        AS v(carrier, provider_message_id, status, at, reason, event_id, envelope, routing_key, ord)),
    upd AS (
      UPDATE messages m SET status = v.status, reason = COALESCE(v.reason, m.reason), updated_at = v.at
      FROM v WHERE m.carrier = v.carrier AND m.provider_message_id = v.provider_message_id AND m.status IN ('sending', 'sent')
      RETURNING ${UPD_RETURNING}, m.priority, v.status, v.at, v.reason AS event_reason, v.event_id, v.envelope, v.routing_key, v.ord),
    ev AS (
      INSERT INTO message_events (message_id, status, at, carrier, reason)
      SELECT id, status, at, carrier, event_reason FROM upd ORDER BY ord),
    ob AS (${OUTBOX_FROM_UPD})
    SELECT id, ord, priority, channel FROM upd`,
  finalReceipts: `
    SELECT carrier, provider_message_id FROM messages
    WHERE (carrier, provider_message_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
      AND status NOT IN ('sending', 'sent')`,
} as const;

interface SentItem {
  id: string;
  at: Date;
  carrier: string;
  providerMessageId: string;
  eventId: string;
  envelope: string;
  /** The `sent` step's reason (null for most). */
  reason: string | null;
}

interface ReceiptItem {
  carrier: string;
  providerMessageId: string;
  status: 'delivered' | 'failed';
  at: Date;
  reason: string | null;
  eventId: string;
  envelope: string;
  routingKey: string;
}

/**
 * The message log's hot path in plain PostgreSQL: each step is one statement (the guarded
 * status change, its timeline step and, when other services must hear of it, its outcome event
 * in the outbox, together in one data-modifying CTE: atomic, as the outbox requires, without a
 * transaction's extra round trips), prepared once per connection. The three steps every message
 * takes (insert as `sending`, `sent`, the receipt) go through statement batchers: concurrent
 * messages share one statement, one round trip and one WAL flush. The outcome event's `data` is
 * built from the changed row in the same statement; its envelope attributes come from the bus's
 * codec, in the caller's request context. Reads and rare writes are the portable TypeORM ones.
 */
export class PostgresMessageLog extends TypeOrmMessageLog {
  private readonly inserts: CallBatcher<NewMessage & { at: Date }, boolean>;
  private readonly sents: CallBatcher<SentItem, boolean>;
  private readonly receipts: CallBatcher<ReceiptItem, ReceiptResult>;

  constructor(
    dataSource: DataSource,
    outbox: OutboxWriter,
    private readonly pg: PostgresMessageLogOptions,
  ) {
    super(dataSource, outbox);
    const batching = pg.batching ?? { maxBatch: 200, maxInFlight: 2 };
    this.inserts = new CallBatcher((items) => this.insertBatch(items), batching);
    this.sents = new CallBatcher((items) => this.sentBatch(items), batching);
    this.receipts = new CallBatcher((items) => this.receiptBatch(items), batching);
  }

  /** The DataSource's own pg pool (initialised by the app module before the log is used). */
  private get pool(): Pool {
    return (this.dataSource.driver as unknown as { master: Pool }).master;
  }

  /** A named (prepared) statement: parsed and planned once per connection. */
  private async run<R extends QueryResultRow>(
    name: keyof typeof SQL,
    values: unknown[],
  ): Promise<R[]> {
    const config: QueryConfig = { name: `notifier_${name}`, text: SQL[name], values };
    return (await this.pool.query<R>(config)).rows;
  }

  override async statusOf(
    id: string,
  ): Promise<{ status: MessageStatus; attempts: number } | undefined> {
    return (await this.run<{ status: MessageStatus; attempts: number }>('statusOf', [id]))[0];
  }

  override async insertSending(message: NewMessage, at: Date): Promise<InsertResult> {
    if (await this.inserts.run({ ...message, at })) return 'inserted';
    return (await this.statusOf(message.id)) ? 'exists' : 'duplicate';
  }

  private async insertBatch(items: readonly (NewMessage & { at: Date })[]): Promise<boolean[]> {
    const col = <T>(f: (m: NewMessage & { at: Date }) => T) => items.map(f);
    const rows = await this.run<{ id: string }>('insertSending', [
      col((m) => m.id),
      col((m) => m.dedupeKey ?? null),
      col((m) => m.priority),
      col((m) => m.channel),
      col((m) => m.template),
      col((m) => m.locale),
      col((m) => m.accountId ?? null),
      col((m) => m.destinationMasked ?? null),
      col((m) => m.destinationHash ?? null),
      col((m) => m.subject ?? null),
      col((m) => m.body),
      col((m) => m.segments ?? null),
      col((m) => m.encoding ?? null),
      col((m) => m.notAfter ?? null),
      col((m) => m.requestedAt),
      col((m) => m.origin?.service ?? null),
      col((m) => m.origin?.ref ?? null),
      col((m) => m.at),
    ]);
    // The same id twice in one batch (two deliveries of one message): rows go in in order,
    // so the first one inserted it and the other finds it there.
    const inserted = new Set(rows.map((r) => r.id));
    return items.map((m) => inserted.delete(m.id));
  }

  override async markSending(id: string, at: Date): Promise<number | undefined> {
    return (await this.run<{ attempts: number }>('markSending', [id, at]))[0]?.attempts;
  }

  override async recordAttemptFailed(
    id: string,
    at: Date,
    reason: string,
    steps: readonly AttemptStep[],
  ): Promise<void> {
    await this.run('attemptFailed', [
      id,
      at,
      clip(reason),
      steps.map((s) => clip(s.reason)),
      steps.map((s) => s.carrier ?? null),
    ]);
  }

  override async recordSent(
    id: string,
    at: Date,
    carrier: string,
    providerMessageId: string,
    reason?: string,
  ): Promise<boolean> {
    const { eventId, envelope } = this.envelopeOf('sent');
    return this.sents.run({
      id,
      at,
      carrier,
      providerMessageId,
      eventId,
      envelope,
      reason: reason ? clip(reason) : null,
    });
  }

  private async sentBatch(items: readonly SentItem[]): Promise<boolean[]> {
    const rows = await this.run<{ ord: number }>('recordSent', [
      items.map((s) => s.id),
      items.map((s) => s.carrier),
      items.map((s) => s.providerMessageId),
      items.map((s) => s.at),
      items.map((s) => s.eventId),
      items.map((s) => s.envelope),
      items.map((_, i) => i),
      items.map((s) => s.reason),
    ]);
    if (rows.length) this.pg.kick?.(); // once a batch: a kick costs an AbortController's abort
    // A row is changed once even if two calls of the batch name it: `ord` says whose call did.
    const changed = new Set(rows.map((r) => r.ord));
    return items.map((_, i) => changed.has(i));
  }

  override async recordFinal(
    id: string,
    at: Date,
    status: 'failed' | 'dropped',
    reason: string,
    carrier?: string,
  ): Promise<boolean> {
    const { eventId, envelope, routingKey } = this.envelopeOf(status);
    const rows = await this.run('recordFinal', [
      status,
      clip(reason),
      carrier ?? null,
      at,
      id,
      eventId,
      envelope,
      routingKey,
    ]);
    if (rows.length) this.pg.kick?.();
    return rows.length > 0;
  }

  override async applyReceipt(
    carrier: string,
    providerMessageId: string,
    status: 'delivered' | 'failed',
    at: Date,
    reason?: string,
  ): Promise<ReceiptResult> {
    return this.receipts.run({
      carrier,
      providerMessageId,
      status,
      at,
      reason: reason ? clip(reason) : null,
      ...this.envelopeOf(status),
    });
  }

  private async receiptBatch(items: readonly ReceiptItem[]): Promise<ReceiptResult[]> {
    const rows = await this.run<{ id: string; ord: number; priority: Priority; channel: Channel }>(
      'applyReceipts',
      [
        items.map((r) => r.carrier),
        items.map((r) => r.providerMessageId),
        items.map((r) => r.status),
        items.map((r) => r.at),
        items.map((r) => r.reason),
        items.map((r) => r.eventId),
        items.map((r) => r.envelope),
        items.map((r) => r.routingKey),
        items.map((_, i) => i),
      ],
    );
    if (rows.length) this.pg.kick?.();
    const results: (ReceiptResult | undefined)[] = items.map(() => undefined);
    for (const row of rows)
      results[row.ord] = {
        applied: true,
        messageId: row.id,
        message: { priority: row.priority, channel: row.channel },
      };
    const missing = items.filter((_, i) => !results[i]);
    if (!missing.length) return results as ReceiptResult[];
    // Not applied: a message already final (a repeated receipt), or one whose `sent` was not
    // committed when the UPDATE looked (it may be by now: still `unknown`, so it is tried again,
    // never taken for a repeat).
    const final = await this.run<{ carrier: string; provider_message_id: string }>(
      'finalReceipts',
      [missing.map((r) => r.carrier), missing.map((r) => r.providerMessageId)],
    );
    const finalKeys = new Set(final.map((k) => `${k.carrier}\n${k.provider_message_id}`));
    return items.map(
      (r, i) =>
        results[i] ?? {
          applied: false,
          why: finalKeys.has(`${r.carrier}\n${r.providerMessageId}`) ? 'already_final' : 'unknown',
        },
    );
  }

  /** The outcome event's envelope as the codec makes it; `data` is set from the row in SQL. */
  private envelopeOf(outcome: Outcome): { eventId: string; envelope: string; routingKey: string } {
    const contract = OUTCOME[outcome];
    const { envelope, routingKey } = this.pg.codec.event(contract, contract.example);
    return { eventId: randomUUID(), envelope: JSON.stringify(envelope), routingKey };
  }
}
