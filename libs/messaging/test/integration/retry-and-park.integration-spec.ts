import { randomUUID } from 'node:crypto';
import { Controller, type INestMicroservice, Module } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { DomainError } from '@phonegate/platform';
import {
  createTestVhost,
  eventually,
  redisPrefix,
  TEST_INFRA,
  type TestVhost,
} from '@phonegate/platform/testing';
import type * as amqp from 'amqplib';
import Redis from 'ioredis';
import { Registry } from 'prom-client';
import { Bus } from '../../src/bus';
import { OnEvent } from '../../src/bus.decorators';
import type { BusContext } from '../../src/bus-context';
import { FAILURE_HEADERS } from '../../src/event-consumer';
import {
  alertRaisedV1,
  capturedLogger,
  itemCreatedV1,
  jobFailedV1,
  startMicroservice,
  TEST_CONTRACTS,
  testKeys,
} from '../support/fixtures';
import { depth, drainQueue, rawConnection } from '../support/rabbit';

const DELAYS = [250, 750, 1_500];
jest.setTimeout(30_000);

const seen = {
  items: [] as { n: number; run: string; secret?: string; attempt: number }[],
  jobAttempts: new Map<number, number[]>(),
  alerts: [] as { n: number; queue: string; at: number }[],
};

@Controller()
class TestConsumer {
  @OnEvent(itemCreatedV1)
  onItem(@Payload() data: { n: number; run: string; secret?: string }, @Ctx() ctx: BusContext) {
    seen.items.push({ ...data, attempt: ctx.attempt });
  }

  @OnEvent(jobFailedV1)
  async onJob(@Payload() data: { n: number; mode: 'retryable' | 'fatal' }) {
    const times = seen.jobAttempts.get(data.n) ?? [];
    times.push(Date.now());
    seen.jobAttempts.set(data.n, times);
    if (data.mode === 'fatal') throw new DomainError('conflict', 'the job can never succeed');
    throw new Error('carrier timed out');
  }

  @OnEvent(alertRaisedV1)
  async onAlert(
    @Payload() data: { n: number; priority: 'critical' | 'bulk' },
    @Ctx() ctx: BusContext,
  ) {
    if (data.priority === 'bulk' && data.n >= 100) await new Promise((r) => setTimeout(r, 100));
    seen.alerts.push({ n: data.n, queue: ctx.queue, at: Date.now() });
  }
}

@Module({ controllers: [TestConsumer] })
class TestModule {}

describe('consuming: retries, parking, idempotency and sensitive fields', () => {
  let vhost: TestVhost;
  let redis: Redis;
  let bus: Bus;
  let app: INestMicroservice;
  let raw: amqp.ChannelModel;
  let ch: amqp.Channel;
  const { logger, capture } = capturedLogger('svc');
  const prefix = redisPrefix();

  beforeAll(async () => {
    vhost = await createTestVhost();
    redis = new Redis(TEST_INFRA.redisUrl);
    bus = new Bus({
      service: 'svc',
      url: vhost.url,
      ...testKeys(),
      logger,
      redis,
      idempotency: { prefix },
      retry: { delaysMs: DELAYS, jitter: 0.1 },
      contracts: TEST_CONTRACTS,
      queues: [
        { name: 'critical', bindings: ['test.alert.raised.v1.critical'], prefetch: 10 },
        { name: 'bulk', bindings: ['test.alert.raised.v1.bulk'], prefetch: 10 },
      ],
      metrics: new Registry(),
    });
    await bus.start();
    app = await startMicroservice(TestModule, bus.server);
    raw = await rawConnection(vhost.url);
    ch = await raw.createChannel();
    // A tap: a second queue bound to the same events, read raw to see what is at rest.
    await ch.assertQueue('tap', { durable: false });
    await ch.bindQueue('tap', 'phonegate.events', 'test.#');
  });

  afterAll(async () => {
    await app?.close();
    await bus?.close();
    await raw?.close().catch(() => undefined);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis?.disconnect();
    await vhost?.drop();
  });

  it('declares the queue family with explicit delivery limits and dead-lettering', async () => {
    expect(bus.server.queueNames().sort()).toEqual(['svc.bulk', 'svc.critical', 'svc.events']);
    for (const q of [
      'svc.events',
      'svc.events.dlq',
      'svc.events.retry.1',
      'svc.events.retry.2',
      'svc.events.retry.3',
    ]) {
      await expect(ch.checkQueue(q)).resolves.toMatchObject({ queue: q });
    }
    // Re-declaring with the same arguments succeeds; a classic queue would fail (406): it is quorum.
    await expect(
      ch.assertQueue('svc.events', {
        durable: true,
        arguments: {
          'x-queue-type': 'quorum',
          'x-delivery-limit': 20,
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': 'svc.events.dlq',
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
        },
      }),
    ).resolves.toMatchObject({ queue: 'svc.events' });
  });

  it('keeps a sensitive field encrypted at rest and hands it decrypted to the handler', async () => {
    const run = randomUUID();
    await bus.events.publish(itemCreatedV1, { n: 1, run, secret: '424242' });
    await eventually(() => seen.items.find((i) => i.run === run));
    expect(seen.items.find((i) => i.run === run)).toMatchObject({ secret: '424242', attempt: 1 });

    const atRest = (await drainQueue(ch, 'tap')).map((m) => m.content.toString('utf8')).join('\n');
    expect(atRest).toContain(run);
    expect(atRest).not.toContain('424242');
    expect(atRest).toMatch(/"secret":"pgenc:v1:k1:/);
    expect(atRest).toContain('"sensitive":["secret"]');
    expect(capture.text()).not.toContain('424242');
  });

  it('retries a failing handler with growing delays, then parks it with its reason', async () => {
    await bus.events.publish(jobFailedV1, { n: 7, mode: 'retryable' });
    const parked = await eventually(async () => {
      const msg = await ch.get('svc.events.dlq', { noAck: true });
      return msg || undefined;
    }, 15_000);
    const times = seen.jobAttempts.get(7) ?? [];
    expect(times).toHaveLength(4); // first try + one per tier
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(gaps[0]).toBeGreaterThanOrEqual(DELAYS[0]! * 0.9 - 20);
    expect(gaps[1]).toBeGreaterThan(gaps[0]!);
    expect(gaps[2]).toBeGreaterThan(gaps[1]!);
    expect(gaps[1]).toBeGreaterThanOrEqual(DELAYS[1]! * 0.9 - 20);
    expect(gaps[2]).toBeGreaterThanOrEqual(DELAYS[2]! * 0.9 - 20);

    const headers = parked.properties.headers ?? {};
    expect(headers[FAILURE_HEADERS.reason]).toContain('carrier timed out');
    expect(headers[FAILURE_HEADERS.count]).toBe(4);
    expect(headers[FAILURE_HEADERS.originalRoutingKey]).toBe('test.job.failed.v1');
    expect(headers[FAILURE_HEADERS.originalQueue]).toBe('svc.events');
    expect(Date.parse(String(headers[FAILURE_HEADERS.failedAt]))).toBeGreaterThan(
      Date.now() - 60_000,
    );
    expect(JSON.parse(parked.content.toString()).data).toEqual({ n: 7, mode: 'retryable' });
  });

  it('gives a message replayed from its DLQ (a shovel back to its queue, headers kept) the whole retry schedule again', async () => {
    await bus.events.publish(jobFailedV1, { n: 9, mode: 'retryable' });
    const parked = await eventually(
      async () => (await ch.get('svc.events.dlq', { noAck: true })) || undefined,
      15_000,
    );
    expect(seen.jobAttempts.get(9)).toHaveLength(4);
    // What an operator's shovel does: the parked message, headers and all, back on its queue.
    ch.sendToQueue('svc.events', parked.content, { ...parked.properties });
    const again = await eventually(
      async () => (await ch.get('svc.events.dlq', { noAck: true })) || undefined,
      15_000,
    );
    expect(seen.jobAttempts.get(9)).toHaveLength(8); // four tries again, not one
    expect(again.properties.headers?.[FAILURE_HEADERS.count]).toBe(4);
    expect(JSON.parse(again.content.toString()).data).toEqual({ n: 9, mode: 'retryable' });
  });

  it('parks a non-retryable DomainError at once', async () => {
    await bus.events.publish(jobFailedV1, { n: 8, mode: 'fatal' });
    const parked = await eventually(
      async () => (await ch.get('svc.events.dlq', { noAck: true })) || undefined,
    );
    expect(seen.jobAttempts.get(8)).toHaveLength(1);
    expect(parked.properties.headers?.[FAILURE_HEADERS.reason]).toBe(
      'conflict: the job can never succeed',
    );
    expect(parked.properties.headers?.[FAILURE_HEADERS.count]).toBe(1);
  });

  it('parks a message that fails its schema at once, with the validation error, without running the handler', async () => {
    const before = seen.items.length;
    const envelope = {
      specversion: '1.0',
      id: randomUUID(),
      source: 'rogue',
      type: itemCreatedV1.type,
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data: { n: -5, run: 'bad' },
    };
    ch.publish('phonegate.events', itemCreatedV1.type, Buffer.from(JSON.stringify(envelope)), {
      persistent: true,
    });
    const parked = await eventually(
      async () => (await ch.get('svc.events.dlq', { noAck: true })) || undefined,
    );
    expect(parked.properties.headers?.[FAILURE_HEADERS.reason]).toMatch(
      /does not match its contract: n too_small/,
    );
    expect(parked.properties.headers?.[FAILURE_HEADERS.count]).toBe(1);
    expect(seen.items.length).toBe(before);
    expect(await depth(ch, 'svc.events.retry.1')).toBe(0);
  });

  it('parks garbage and a sensitive field sent in clear', async () => {
    ch.publish('phonegate.events', itemCreatedV1.type, Buffer.from('not json'));
    const envelope = {
      specversion: '1.0',
      id: randomUUID(),
      source: 'rogue',
      type: itemCreatedV1.type,
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      sensitive: ['secret'],
      data: { n: 1, run: 'clear', secret: 'plain' },
    };
    ch.publish('phonegate.events', itemCreatedV1.type, Buffer.from(JSON.stringify(envelope)));
    const reasons: string[] = [];
    await eventually(async () => {
      const msg = await ch.get('svc.events.dlq', { noAck: true });
      if (msg) reasons.push(String(msg.properties.headers?.[FAILURE_HEADERS.reason]));
      return reasons.length === 2;
    });
    expect(reasons.sort()).toEqual([
      'DecryptError: field secret should be encrypted but is not',
      'MalformedMessageError: message body is not JSON',
    ]);
  });

  it('runs the handler once for the same event delivered three times (M4)', async () => {
    const run = randomUUID();
    const id = randomUUID();
    const { envelope, routingKey } = bus.codec.event(itemCreatedV1, { n: 3, run }, { id });
    await Promise.all([1, 2, 3].map(() => bus.events.publishEnvelope(envelope, routingKey)));
    await eventually(async () => (await redis.get(`${prefix}idem:svc.events:${id}`)) === 'done');
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.items.filter((i) => i.run === run)).toHaveLength(1);
  });

  it('routes priorities to their own queues', async () => {
    await bus.events.publish(alertRaisedV1, { n: 1, priority: 'critical' });
    await bus.events.publish(alertRaisedV1, { n: 2, priority: 'bulk' });
    await eventually(() => seen.alerts.length === 2);
    expect(seen.alerts.sort((a, b) => a.n - b.n).map(({ n, queue }) => ({ n, queue }))).toEqual([
      { n: 1, queue: 'svc.critical' },
      { n: 2, queue: 'svc.bulk' },
    ]);
  });

  it('handles a critical event at once behind a bulk backlog (separate queues and channels)', async () => {
    // 80 slow bulk messages: about 80 x 100 ms / prefetch 10 = 800 ms of backlog.
    await Promise.all(
      Array.from({ length: 80 }, (_, i) =>
        bus.events.publish(alertRaisedV1, { n: 100 + i, priority: 'bulk' }),
      ),
    );
    const sentAt = Date.now();
    await bus.events.publish(alertRaisedV1, { n: 99, priority: 'critical' });
    await eventually(() => seen.alerts.some((a) => a.n === 99));
    const critical = seen.alerts.find((a) => a.n === 99)!;
    expect(critical.at - sentAt).toBeLessThan(450);
    expect(seen.alerts.filter((a) => a.n >= 100).length).toBeLessThan(80); // the backlog was still there
    await eventually(() => seen.alerts.filter((a) => a.n >= 100).length === 80, 10_000);
  });

  it('logged nothing sensitive during the run', () => {
    expect(capture.lines.length).toBeGreaterThan(0);
    expect(capture.text()).not.toMatch(/424242|pgenc:v1/);
  });
});
