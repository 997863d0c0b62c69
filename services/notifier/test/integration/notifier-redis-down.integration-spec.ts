import { randomUUID } from 'node:crypto';
import type { CarrierSim } from '@phonegate/carrier-sim';
import { type EventData, notificationRequestedV1 } from '@phonegate/contracts';
import type { Bus } from '@phonegate/messaging';
import { eventually } from '@phonegate/platform/testing';
import { createCarrierGateway } from '../../src/carrier-health/carrier-gateway.factory';
import {
  createTestInfra,
  type InProcessNotifier,
  OPS,
  publish,
  silentLogger,
  startNotifier,
  startPublisher,
  type TestInfra,
} from '../support/harness';
import { OwnRedisServer } from '../support/redis-server';
import { carriersEnv, startSim } from '../support/sim';

jest.setTimeout(60_000);

/**
 * With Redis gone the per-message lock cannot be had: the message log row is claimed instead
 * (one consumer wins), so two deliveries of one message at once still make one SMS, and a
 * claim held by a consumer that crashed runs out, so its message still goes out.
 * Real PostgreSQL and RabbitMQ, the carrier simulator, and a redis-server killed under the
 * running notifier.
 */
describe('notifier: Redis down', () => {
  let infra: TestInfra;
  let sim: CarrierSim;
  let redisServer: OwnRedisServer;
  let notifier: InProcessNotifier;
  let publisher: Bus;
  let seq = 0;

  const code = (): EventData<typeof notificationRequestedV1> & { to: string } => {
    const n = ++seq;
    return {
      messageId: randomUUID(),
      priority: 'critical',
      channel: 'sms',
      to: `+1415556${String(1000 + n).padStart(4, '0')}`,
      template: 'otp.sign_in',
      locale: 'en',
      variables: { code: String(200000 + n), host: 'shop.example.com' },
      notAfter: new Date(Date.now() + 60_000).toISOString(),
      dedupeKey: `redis-down:${n}:${randomUUID()}`,
      origin: { service: 'otp', ref: `c${n}` },
    };
  };
  const submits = (to: string) => sim.store.list({ to, limit: 10 }).length;
  const statusOf = async (id: string) =>
    (await notifier.app.inject({ method: 'GET', url: `/v1/messages/${id}`, headers: OPS })).json()
      .status as string | undefined;
  /** Log lines of the dispatcher about this message. */
  const linesOf = (id: string) =>
    notifier.logs
      .text()
      .split('\n')
      .filter((l) => l.includes(id));

  beforeAll(async () => {
    [sim, redisServer] = await Promise.all([startSim(), OwnRedisServer.start()]);
    infra = await createTestInfra({
      REDIS_URL: redisServer.url,
      NOTIFIER_BUS_RETRY_DELAYS: '500ms',
      ...carriersEnv(sim),
    });
    notifier = await startNotifier(infra, ({ config, logger, redis, metrics }) =>
      createCarrierGateway({ config, logger, redis, registry: metrics.registry }),
    );
    publisher = await startPublisher(infra, silentLogger());
    // Warm (Redis still up): the SMPP session is bound and a code goes out.
    const warm = code();
    await publish(publisher, notificationRequestedV1, warm);
    await eventually(() => submits(warm.to) === 1, 10_000);
    await redisServer.stop();
    await expect(notifier.redis.ping()).rejects.toThrow();
  });

  afterAll(async () => {
    await publisher?.close();
    await notifier?.close();
    notifier?.redis.disconnect(); // its quit() could not reach the server: stop reconnecting
    await Promise.allSettled([sim?.stop(), redisServer?.stop()]);
    await infra?.drop();
  });

  it('sends one SMS for two deliveries of the same message at once', async () => {
    // Slow enough that the second delivery finds the first one mid-send.
    sim.setBehaviour('smpp-a', { latencyMs: 300 });
    const message = code();
    const envelopeId = randomUUID(); // the same event twice, as an outbox relay republish makes it
    await Promise.all([
      publish(publisher, notificationRequestedV1, message, { id: envelopeId }),
      publish(publisher, notificationRequestedV1, message, { id: envelopeId }),
    ]);

    await eventually(async () => (await statusOf(message.messageId)) === 'sent', 10_000);
    // The second delivery is done: it found the message sent, or it sent it again.
    await eventually(
      () =>
        submits(message.to) > 1 ||
        linesOf(message.messageId).some((l) => l.includes('message already handled')),
      10_000,
    );
    expect(submits(message.to)).toBe(1);
    expect(notifier.logs.text()).toContain('relying on the message log');
    sim.setBehaviour('smpp-a', { latencyMs: 0 });
  });

  it('sends a message whose claim a crashed consumer holds once the claim runs out, once', async () => {
    const message = code();
    // The row as a consumer leaves it when it dies mid-send: `sending`, just touched.
    const now = new Date();
    await notifier.dataSource.query(
      `INSERT INTO messages (id, priority, channel, template, locale, body, status, attempts,
         not_after, requested_at, created_at, updated_at)
       VALUES ($1, 'critical', 'sms', 'otp.sign_in', 'en', '', 'sending', 1, $2, $3, $3, $3)`,
      [message.messageId, message.notAfter, now],
    );
    const publishedAt = Date.now();
    await publish(publisher, notificationRequestedV1, message);

    await eventually(() => submits(message.to) === 1, 15_000);
    const sentAfterMs = Date.now() - publishedAt;
    await eventually(async () => (await statusOf(message.messageId)) === 'sent', 5_000);
    // Not at once: the redelivery waited for the dead consumer's claim (a few seconds) to run out.
    expect(sentAfterMs).toBeGreaterThanOrEqual(2_000);
    expect(linesOf(message.messageId).some((l) => l.includes('claimed by another delivery'))).toBe(
      true,
    );
    await new Promise((r) => setTimeout(r, 1_000));
    expect(submits(message.to)).toBe(1);
  });
});
