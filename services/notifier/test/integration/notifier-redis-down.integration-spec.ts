import { randomUUID } from 'node:crypto';
import { eventually } from '@phonegate/platform/testing';
import { OwnRedisServer } from '../support/redis-server';
import { SimNotifier } from '../support/sim-notifier';

jest.setTimeout(60_000);

/**
 * With Redis gone the per-message lock cannot be had: the message log row is claimed instead
 * (one consumer wins), so two deliveries of one message at once still make one SMS, and a
 * claim held by a consumer that crashed runs out, so its message still goes out.
 * Real PostgreSQL and RabbitMQ, the carrier simulator, and a redis-server killed under the
 * running notifier.
 */
describe('notifier: Redis down', () => {
  let redisServer: OwnRedisServer;
  let s: SimNotifier;

  const submits = (to: string) => s.carriersOf(to).length;
  /** Sent, or already delivered (the simulator's receipts come fast). */
  const wentOut = (status?: string) => status === 'sent' || status === 'delivered';

  beforeAll(async () => {
    redisServer = await OwnRedisServer.start();
    s = await SimNotifier.start({
      numbers: '+1415556',
      env: { REDIS_URL: redisServer.url, NOTIFIER_BUS_RETRY_DELAYS: '500ms' },
    });
    // Warm (Redis still up): the SMPP session is bound and a code goes out.
    const warm = await s.publish(s.code());
    await eventually(() => submits(warm.to) === 1, 10_000);
    await redisServer.stop();
    await expect(s.notifier.redis.ping()).rejects.toThrow();
  });

  afterAll(async () => {
    await s?.close();
    await redisServer?.stop();
  });

  it('sends one SMS for two deliveries of the same message at once', async () => {
    // Slow enough that the second delivery finds the first one mid-send.
    s.sim.setBehaviour('smpp-a', { latencyMs: 300 });
    const message = s.code();
    const envelopeId = randomUUID(); // the same event twice, as an outbox relay republish makes it
    await Promise.all([s.publish(message, envelopeId), s.publish(message, envelopeId)]);

    await eventually(async () => wentOut(await s.statusOf(message.messageId)), 10_000);
    // The second delivery is done: it found the message sent, or it sent it again.
    await eventually(
      () =>
        submits(message.to) > 1 ||
        s.logLines(message.messageId).some((l) => l.includes('message already handled')),
      10_000,
    );
    expect(submits(message.to)).toBe(1);
    expect(s.notifier.logs.text()).toContain('relying on the message log');
    s.sim.setBehaviour('smpp-a', { latencyMs: 0 });
  });

  it('sends a message whose claim a crashed consumer holds once the claim runs out, once', async () => {
    const message = s.code();
    // The row as a consumer leaves it when it dies mid-send: `sending`, just touched.
    const now = new Date();
    await s.notifier.dataSource.query(
      `INSERT INTO messages (id, priority, channel, template, locale, body, status, attempts,
         not_after, requested_at, created_at, updated_at)
       VALUES ($1, 'critical', 'sms', 'otp.sign_in', 'en', '', 'sending', 1, $2, $3, $3, $3)`,
      [message.messageId, message.notAfter, now],
    );
    const publishedAt = Date.now();
    await s.publish(message);

    await eventually(() => submits(message.to) === 1, 15_000);
    const sentAfterMs = Date.now() - publishedAt;
    await eventually(async () => wentOut(await s.statusOf(message.messageId)), 5_000);
    // Not at once: the redelivery waited for the dead consumer's claim (a few seconds) to run out.
    expect(sentAfterMs).toBeGreaterThanOrEqual(2_000);
    expect(
      s.logLines(message.messageId).some((l) => l.includes('claimed by another delivery')),
    ).toBe(true);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(submits(message.to)).toBe(1);
  });
});
