import { randomUUID } from 'node:crypto';
import { EnvelopeCodec, Outbox, SensitiveCipher } from '@phonegate/messaging';
import { createTestDatabase, type TestDatabase } from '@phonegate/platform/testing';
import type { DataSource } from 'typeorm';
import { createNotifierDataSource } from '../../src/infrastructure';
import type { MessageLog, NewMessage } from '../../src/messages/message-log';
import { PostgresMessageLog } from '../../src/messages/postgres-message.log';
import { TypeOrmMessageLog } from '../../src/messages/typeorm-message.log';
import { TEST_BUS_KEYS } from '../support/harness';

jest.setTimeout(60_000);

const message = (over: Partial<NewMessage> = {}): NewMessage => ({
  id: randomUUID(),
  dedupeKey: `k:${randomUUID()}`,
  priority: 'critical',
  channel: 'sms',
  template: 'otp.sign_in',
  locale: 'en',
  destinationMasked: '+1 ••• ••• ••23',
  destinationHash: 'h1:abc',
  body: 'Your sign-in code is ••••••.',
  segments: 1,
  encoding: 'gsm7',
  notAfter: new Date(Date.now() + 60_000),
  requestedAt: new Date(Date.now() - 1_000),
  origin: { service: 'otp', ref: 'c1' },
  ...over,
});

/** The log's DataSource and the envelope codec its outcome events are built with. */
async function openLog(prefix: string) {
  const db = await createTestDatabase(prefix);
  const ds = await createNotifierDataSource({ type: 'postgres', url: db.url }).initialize();
  const codec = new EnvelopeCodec(
    'notifier',
    new SensitiveCipher({ keys: { t1: TEST_BUS_KEYS.slice(3) }, activeKeyId: 't1' }),
  );
  return { db, ds, codec };
}

/**
 * The message log's contract, for both implementations: the portable TypeORM one (embedded
 * mode) and the one-statement PostgreSQL one (the hot path). Same steps, same answers.
 */
describe.each([
  [
    'TypeOrmMessageLog',
    (ds: DataSource, outbox: Outbox, _codec: EnvelopeCodec) =>
      new TypeOrmMessageLog(ds, outbox) as MessageLog,
  ],
  [
    'PostgresMessageLog',
    (ds: DataSource, outbox: Outbox, codec: EnvelopeCodec) =>
      new PostgresMessageLog(ds, outbox, { codec }) as MessageLog,
  ],
])('%s', (_name, make) => {
  let db: TestDatabase;
  let ds: DataSource;
  let log: MessageLog;

  const outboxRows = (messageId: string) =>
    ds.query<{ routing_key: string; envelope: { type: string; data: Record<string, unknown> } }[]>(
      `SELECT routing_key, envelope FROM outbox WHERE envelope->'data'->>'messageId' = $1 ORDER BY created_at`,
      [messageId],
    );

  beforeAll(async () => {
    let codec: EnvelopeCodec;
    ({ db, ds, codec } = await openLog('pg_notifier_log'));
    log = make(ds, new Outbox(codec), codec);
  });

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('walks queued → sending → sent → delivered with one outcome event per public step', async () => {
    const m = message();
    expect(await log.insertSending(m, new Date())).toBe('inserted');
    expect(await log.statusOf(m.id)).toEqual({ status: 'sending', attempts: 1 });
    expect(await log.insertSending(m, new Date())).toBe('exists');
    expect(await log.insertSending({ ...m, id: randomUUID() }, new Date())).toBe('duplicate');
    await log.recordAttemptFailed(m.id, new Date(), 'all_carriers_failed: smpp-a=timeout', [
      { carrier: 'smpp-a', reason: 'attempt_failed: timeout' },
    ]);
    expect(await log.markSending(m.id, new Date())).toBe(2);
    expect(await log.recordSent(m.id, new Date(), 'smpp-a', 'P-1')).toBe(true);
    expect(await log.recordSent(m.id, new Date(), 'smpp-a', 'P-1')).toBe(false);
    expect(await log.markSending(m.id, new Date())).toBeUndefined();
    expect(await log.applyReceipt('smpp-a', 'P-1', 'delivered', new Date())).toEqual({
      applied: true,
      messageId: m.id,
      message: { priority: 'critical', channel: 'sms' },
    });
    expect(await log.applyReceipt('smpp-a', 'P-1', 'delivered', new Date())).toEqual({
      applied: false,
      why: 'already_final',
    });
    expect(await log.applyReceipt('smpp-a', 'P-404', 'delivered', new Date())).toEqual({
      applied: false,
      why: 'unknown',
    });

    expect((await log.timeline(m.id)).map((t) => t.status)).toEqual([
      'queued',
      'sending',
      'sending',
      'sending',
      'sent',
      'delivered',
    ]);
    expect((await log.timeline(m.id))[2]).toMatchObject({
      status: 'sending',
      carrier: 'smpp-a',
      reason: 'attempt_failed: timeout',
    });
    const view = await log.find(m.id);
    expect(view).toMatchObject({
      status: 'delivered',
      carrier: 'smpp-a',
      providerMessageId: 'P-1',
      attempts: 2,
      origin: { service: 'otp', ref: 'c1' },
    });
    const events = await outboxRows(m.id);
    expect(events.map((e) => e.routing_key)).toEqual([
      'notification.sent.v1',
      'notification.delivered.v1',
    ]);
    expect(events[0]!.envelope.data).toEqual({
      messageId: m.id,
      channel: 'sms',
      carrier: 'smpp-a',
      attempts: 2,
      origin: { service: 'otp', ref: 'c1' },
    });
  });

  it('ends a message failed or dropped once, with the reason in the event', async () => {
    const m = message({ origin: { service: 'otp' } });
    await log.insertSending(m, new Date());
    expect(await log.recordFinal(m.id, new Date(), 'dropped', 'expired')).toBe(true);
    expect(await log.recordFinal(m.id, new Date(), 'failed', 'late')).toBe(false);
    const events = await outboxRows(m.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.envelope.data).toEqual({
      messageId: m.id,
      channel: 'sms',
      carrier: null,
      attempts: 1,
      reason: 'expired',
      origin: { service: 'otp' },
    });

    const refused = message();
    expect(await log.insertDropped(refused, new Date(), 'unknown_template')).toBe('inserted');
    expect(await log.insertDropped(refused, new Date(), 'unknown_template')).toBe('exists');
    expect((await log.timeline(refused.id)).map((t) => [t.status, t.reason])).toEqual([
      ['queued', undefined],
      ['dropped', 'unknown_template'],
    ]);
  });

  it('puts a late record reason on the sent step only, not on the message or its event', async () => {
    const m = message();
    await log.insertSending(m, new Date());
    const acceptedAt = new Date(Date.now() - 5_000);
    expect(
      await log.recordSent(m.id, acceptedAt, 'smpp-a', 'L-1', 'recorded_late: not sent again'),
    ).toBe(true);
    const sent = (await log.timeline(m.id)).at(-1);
    expect(sent).toEqual({
      status: 'sent',
      at: acceptedAt,
      carrier: 'smpp-a',
      reason: 'recorded_late: not sent again',
    });
    expect(await log.find(m.id)).toMatchObject({ status: 'sent', reason: null, attempts: 1 });
    const events = await outboxRows(m.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.envelope.data).not.toHaveProperty('reason');
  });

  it('keeps a queued message (from the API) sendable and counts its attempts from one', async () => {
    const m = message({ dedupeKey: undefined });
    expect(await log.insertQueued(m, new Date())).toBe('inserted');
    expect(await log.insertSending(m, new Date())).toBe('exists');
    expect(await log.markSending(m.id, new Date())).toBe(1);
    expect(await log.recordFinal(m.id, new Date(), 'failed', 'recipient:21211', 'http-b')).toBe(
      true,
    );
    expect(await log.find(m.id)).toMatchObject({
      status: 'failed',
      reason: 'recipient:21211',
      carrier: 'http-b',
    });
  });
  it('reads a message and its timeline from one snapshot while receipts land', async () => {
    // The support view once read the row, then the timeline: a receipt in between showed
    // `delivered` on the timeline and `sent` as the status. Race the two, many times.
    const torn: string[] = [];
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const m = message();
        await log.insertSending(m, new Date());
        await log.recordSent(m.id, new Date(), 'smpp-a', `R-${m.id}-${i}`);
        const reads = Array.from({ length: 5 }, () => log.findWithTimeline(m.id));
        await log.applyReceipt('smpp-a', `R-${m.id}-${i}`, 'delivered', new Date());
        for (const got of await Promise.all([...reads, log.findWithTimeline(m.id)])) {
          const last = got!.timeline.at(-1)!.status;
          if (last !== got!.message.status) torn.push(`${got!.message.status}/${last}`);
        }
        expect((await log.findWithTimeline(m.id))!.message.status).toBe('delivered');
      }),
    );
    expect(torn).toEqual([]);
    expect(await log.findWithTimeline(randomUUID())).toBeUndefined();
  });

  it('records the receipt of a late copy once when its copies arrive together', async () => {
    for (let i = 0; i < 10; i++) {
      const m = message();
      expect(await log.insertSending(m, new Date())).toBe('inserted');
      expect(await log.recordSent(m.id, new Date(), 'http-b', `R-${m.id}`)).toBe(true);
      const late = `L-${m.id}`;
      expect(
        await log.recordLateAcceptance(m.id, new Date(), 'smpp-a', 'late: not_cancelled', late),
      ).toBe(true);
      const results = await Promise.all(
        [1, 2, 3].map(() => log.applyLateCopyReceipt('smpp-a', late, 'delivered', new Date())),
      );
      expect(results.filter((r) => r.applied)).toEqual([{ applied: true, messageId: m.id }]);
      expect(results.filter((r) => !r.applied)).toEqual([
        { applied: false, why: 'already_final' },
        { applied: false, why: 'already_final' },
      ]);
      const steps = await ds.query<{ status: string }[]>(
        `SELECT status FROM message_events WHERE message_id = $1 AND provider_message_id = $2 ORDER BY id`,
        [m.id, late],
      );
      expect(steps.map((e) => e.status)).toEqual(['sent', 'delivered']);
    }
  });
});

/** The hot steps of the PostgreSQL log are batched: concurrent messages share statements. */
describe('PostgresMessageLog batching', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let log: PostgresMessageLog;
  let statements = 0;
  /** Runs after each statement of the log, before its caller sees the answer. */
  let afterStatement: ((name?: string) => Promise<void>) | undefined;

  beforeAll(async () => {
    let codec: EnvelopeCodec;
    ({ db, ds, codec } = await openLog('pg_notifier_batch'));
    log = new PostgresMessageLog(ds, new Outbox(codec), { codec });
    const pool = (ds.driver as unknown as { master: { query: (...a: unknown[]) => unknown } })
      .master;
    const query = pool.query.bind(pool);
    pool.query = async (...args: unknown[]) => {
      statements++;
      const result = await (query(...args) as Promise<unknown>);
      await afterStatement?.((args[0] as { name?: string }).name);
      return result;
    };
  });

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('sends 200 concurrent messages through a handful of statements, each timeline whole', async () => {
    const messages = Array.from({ length: 200 }, () => message());
    statements = 0;
    const inserted = await Promise.all(messages.map((m) => log.insertSending(m, new Date())));
    expect(inserted).toEqual(messages.map(() => 'inserted'));
    const sent = await Promise.all(
      messages.map((m, i) => log.recordSent(m.id, new Date(), 'smpp-a', `B-${i}`)),
    );
    expect(sent.every(Boolean)).toBe(true);
    const receipts = await Promise.all(
      messages.map((_, i) =>
        log.applyReceipt('smpp-a', `B-${i}`, i % 2 ? 'delivered' : 'failed', new Date(), 'x'),
      ),
    );
    expect(receipts).toEqual(
      messages.map((m) => ({
        applied: true,
        messageId: m.id,
        message: { priority: 'critical', channel: 'sms' },
      })),
    );
    expect(statements).toBeLessThan(30); // 600 steps
    for (const [i, m] of messages.slice(0, 10).entries()) {
      expect((await log.timeline(m.id)).map((t) => t.status)).toEqual([
        'queued',
        'sending',
        'sent',
        i % 2 ? 'delivered' : 'failed',
      ]);
    }
    const [outbox] = await ds.query<{ n: number; kinds: string[] }[]>(
      `SELECT count(*)::int AS n, array_agg(DISTINCT routing_key ORDER BY routing_key) AS kinds
       FROM outbox WHERE envelope->'data'->>'messageId' = ANY($1)`,
      [messages.map((m) => m.id)],
    );
    expect(outbox).toEqual({
      n: 400,
      kinds: ['notification.delivered.v1', 'notification.failed.v1', 'notification.sent.v1'],
    });
  });

  it('answers each call of a batch on its own: duplicates, repeats and unknown receipts', async () => {
    const a = message();
    const twin = message({ dedupeKey: a.dedupeKey });
    const b = message();
    const results = await Promise.all([
      log.insertSending(a, new Date()),
      log.insertSending(twin, new Date()),
      log.insertSending(b, new Date()),
      log.insertSending(b, new Date()),
    ]);
    expect(results.filter((r) => r === 'inserted')).toHaveLength(2);
    expect(results[2] === 'inserted' ? results[3] : results[2]).toBe('exists');
    expect([results[0], results[1]].sort()).toEqual(['duplicate', 'inserted']);

    const sent = await Promise.all([
      log.recordSent(b.id, new Date(), 'smpp-a', 'D-1'),
      log.recordSent(b.id, new Date(), 'smpp-a', 'D-1'),
    ]);
    expect(sent.sort()).toEqual([false, true]);
    const receipts = await Promise.all([
      log.applyReceipt('smpp-a', 'D-1', 'delivered', new Date()),
      log.applyReceipt('smpp-a', 'D-1', 'delivered', new Date()),
      log.applyReceipt('smpp-a', 'D-404', 'delivered', new Date()),
    ]);
    expect(receipts).toEqual(
      expect.arrayContaining([
        { applied: true, messageId: b.id, message: { priority: 'critical', channel: 'sms' } },
        { applied: false, why: 'already_final' },
        { applied: false, why: 'unknown' },
      ]),
    );
    expect((await log.timeline(b.id)).map((t) => t.status)).toEqual([
      'queued',
      'sending',
      'sent',
      'delivered',
    ]);
  });

  it('keeps a receipt whose message turns `sent` while it is being matched', async () => {
    // The receipt's UPDATE runs before the `sent` commits; the commit lands before the check of
    // why nothing matched. That receipt must be tried again, not taken for a repeat.
    const m = message();
    await log.insertSending(m, new Date());
    const other = ds.createQueryRunner();
    await other.connect();
    await other.startTransaction();
    await other.query(
      `UPDATE messages SET status = 'sent', carrier = 'smpp-a', provider_message_id = 'RACE-1' WHERE id = $1`,
      [m.id],
    );
    afterStatement = async (name) => {
      if (name !== 'notifier_applyReceipts') return;
      afterStatement = undefined;
      await other.commitTransaction();
    };
    try {
      expect(await log.applyReceipt('smpp-a', 'RACE-1', 'delivered', new Date())).toEqual({
        applied: false,
        why: 'unknown',
      });
    } finally {
      afterStatement = undefined;
      if (other.isTransactionActive) await other.rollbackTransaction();
      await other.release();
    }
    expect(await log.applyReceipt('smpp-a', 'RACE-1', 'delivered', new Date())).toEqual({
      applied: true,
      messageId: m.id,
      message: { priority: 'critical', channel: 'sms' },
    });
  });

  it('fails only the bad call of a batch', async () => {
    const good = Array.from({ length: 5 }, () => message());
    const bad = message({ dedupeKey: 'k'.repeat(500) }); // longer than the column
    const results = await Promise.allSettled(
      [...good.slice(0, 2), bad, ...good.slice(2)].map((m) => log.insertSending(m, new Date())),
    );
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    for (const m of good)
      expect(await log.statusOf(m.id)).toEqual({ status: 'sending', attempts: 1 });
    expect(await log.statusOf(bad.id)).toBeUndefined();
  });
});
