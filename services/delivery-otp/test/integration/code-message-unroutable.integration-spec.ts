import type { Envelope } from '@phonegate/contracts';
import { SensitiveCipher } from '@phonegate/messaging';
import { eventually } from '@phonegate/platform/testing';
import amqp, { type ChannelModel } from 'amqplib';
import { keyringToBase64 } from '../../src/config/delivery-otp.config';
import { auth, type Harness, KEYS, startHarness, windowAround } from './harness';

jest.setTimeout(30_000);

interface OutboxRow {
  routing_key: string;
  attempts: number;
  last_error: string | null;
  sent_at: Date | null;
}

/**
 * No queue is bound to notification.requested (no notifier yet, or its queue
 * gone): the customer's code messages stay in the outbox and are tried again
 * until one is, never dropped as unroutable (SECURITY M1, M6); this service's
 * own delivery.* events, which often have no consumer, are dropped
 * (BUS_UNROUTABLE=drop, the default).
 */
describe('a code message no queue is bound to', () => {
  let h: Harness;
  let conn: ChannelModel | undefined;

  beforeAll(async () => {
    h = await startHarness({ tapKeys: [], publishTimeoutMs: 500, env: { LOG_LEVEL: 'warn' } });
  });

  afterAll(async () => {
    await conn?.close().catch(() => undefined);
    await h?.close();
  });

  const rows = async (shipmentId: string) =>
    (
      await h.pg.query<OutboxRow>(
        `SELECT routing_key, attempts, last_error, sent_at FROM outbox
          WHERE envelope->'data'->>'shipmentId' = $1 OR envelope->'data'->'origin'->>'ref' = $1
          ORDER BY routing_key`,
        [shipmentId],
      )
    ).rows;

  it('stays in the outbox, retried, and is published once a queue is bound', async () => {
    const shipmentId = `shp_unroutable_${Date.now().toString(36)}`;
    const res = await h.app.inject({
      method: 'POST',
      url: `/v1/shipments/${shipmentId}/out-for-delivery`,
      headers: auth(KEYS.logistics),
      payload: {
        orderId: 'ord_unroutable',
        accountId: 'acc_unroutable',
        contact: { phone: '+14155550123', email: 'ana@example.com' },
        courierId: 'cour_unroutable',
        window: windowAround(Date.now()),
      },
    });
    expect(res.statusCode).toBe(201);

    // Tried at least twice, each time returned by the broker; still unsent. The
    // code_issued event nobody is bound to went (dropped).
    const waiting = await eventually(async () => {
      const now = await rows(shipmentId);
      const codes = now.filter((r) => r.routing_key.startsWith('notification.requested.'));
      return codes.length === 2 && codes.every((r) => r.attempts >= 2) ? now : undefined;
    }, 15_000);
    expect(waiting).toEqual([
      {
        routing_key: 'delivery.handoff.code_issued.v1',
        attempts: expect.any(Number),
        last_error: null,
        sent_at: expect.any(Date),
      },
      ...[1, 2].map(() => ({
        routing_key: 'notification.requested.v1.critical',
        attempts: expect.any(Number),
        last_error: expect.stringContaining('unroutable'),
        sent_at: null,
      })),
    ]);

    // A notifier queue appears: both messages go out, the code in them encrypted.
    conn = await amqp.connect(h.vhost.url);
    const ch = await conn.createChannel();
    const q = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(q.queue, 'phonegate.events', 'notification.requested.v1.#');
    const received: Envelope[] = [];
    await ch.consume(
      q.queue,
      (msg) => void (msg && received.push(JSON.parse(msg.content.toString('utf8')) as Envelope)),
      { noAck: true },
    );
    await eventually(() => received.length === 2, 15_000);
    await eventually(async () => (await rows(shipmentId)).every((r) => r.sent_at !== null));

    const cipher = new SensitiveCipher(keyringToBase64(h.config.busEncryptionKeys));
    const data = received.map(
      (e) =>
        cipher.decryptPaths(e.data, e.sensitive ?? [], e.type) as {
          dedupeKey: string;
          variables: { code: string };
        },
    );
    expect(data.map((d) => d.dedupeKey).sort()).toEqual([
      `delivery-otp:${shipmentId}:1:email`,
      `delivery-otp:${shipmentId}:1:sms`,
    ]);
    const shown = await h.app.inject({
      method: 'GET',
      url: `/v1/shipments/${shipmentId}/code?accountId=acc_unroutable`,
      headers: auth(KEYS.storefront),
    });
    expect(data.map((d) => d.variables.code)).toEqual([
      shown.json<{ code: string }>().code,
      shown.json<{ code: string }>().code,
    ]);
  });
});
