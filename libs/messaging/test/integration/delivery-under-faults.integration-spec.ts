import { randomUUID } from 'node:crypto';
import { Controller, type INestMicroservice, Module } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import {
  closeVhostConnections,
  createTestVhost,
  eventually,
  redisPrefix,
  TEST_INFRA,
  type TestVhost,
} from '@phonegate/platform/testing';
import Redis from 'ioredis';
import { Registry } from 'prom-client';
import { Bus } from '../../src/bus';
import { OnEvent } from '../../src/bus.decorators';
import {
  capturedLogger,
  itemCreatedV1,
  startMicroservice,
  TEST_CONTRACTS,
  testKeys,
} from '../support/fixtures';
import { closeConnectionsNamed, depths, killChannel, listConnections } from '../support/rabbit';

/** run id → n → how many times the handler ran. */
const handled = new Map<string, Map<number, number>>();

@Controller()
class CountingConsumer {
  @OnEvent(itemCreatedV1)
  async onItem(@Payload() data: { n: number; run: string }) {
    // A little asynchrony so that many messages are in flight when faults hit.
    await new Promise((r) => setImmediate(r));
    const runMap = handled.get(data.run) ?? new Map<number, number>();
    handled.set(data.run, runMap);
    runMap.set(data.n, (runMap.get(data.n) ?? 0) + 1);
  }
}

@Module({ controllers: [CountingConsumer] })
class ConsumerModule {}

jest.setTimeout(90_000);

function countOf(run: string): { distinct: number; duplicates: number } {
  const m = handled.get(run) ?? new Map<number, number>();
  let duplicates = 0;
  for (const c of m.values()) if (c > 1) duplicates += c - 1;
  return { distinct: m.size, duplicates };
}

describe('delivery under faults (M1, M2, M6)', () => {
  let vhost: TestVhost;
  let redis: Redis;
  let publisher: Bus;
  let consumer: Bus;
  let app: INestMicroservice;
  const prefix = redisPrefix();
  const { logger: pubLogger, capture: pubLogs } = capturedLogger('pub');
  const subRegistry = new Registry();
  /** Redeliveries the guard absorbed: skipped as already done, or postponed while the first delivery ran. */
  async function absorbed(): Promise<number> {
    const metric = await subRegistry.getSingleMetric('bus_consumed_total')?.get();
    const duplicates = metric?.values.find((v) => v.labels['outcome'] === 'duplicate')?.value ?? 0;
    const postponed = subLogs.lines.filter((l) => l.includes('delivery postponed')).length;
    return duplicates + postponed;
  }
  const { logger: subLogger, capture: subLogs } = capturedLogger('svc');

  beforeAll(async () => {
    vhost = await createTestVhost();
    redis = new Redis(TEST_INFRA.redisUrl);
    const keys = testKeys();
    const common = {
      url: vhost.url,
      ...keys,
      contracts: TEST_CONTRACTS,
      retry: { delaysMs: [200, 400, 800], jitter: 0.1, maxAttempts: 10 },
      reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 },
    };
    consumer = new Bus({
      ...common,
      service: 'svc',
      logger: subLogger,
      redis,
      idempotency: { prefix },
      metrics: subRegistry,
    });
    publisher = new Bus({
      ...common,
      service: 'pub',
      logger: pubLogger,
      publishTimeoutMs: 60_000,
      metrics: new Registry(),
    });
    await consumer.start();
    app = await startMicroservice(ConsumerModule, consumer.server);
    await publisher.start();
  });

  afterAll(async () => {
    await app?.close();
    await consumer?.close();
    await publisher?.close();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    redis?.disconnect();
    await vhost?.drop();
  });

  it('uses a 15 s heartbeat and names its connections', async () => {
    await publisher.connection.waitUntilConnected(5_000);
    const conns = (await listConnections(vhost.name)).filter((c) => c.connectionName);
    expect(conns.map((c) => [c.connectionName, c.heartbeat]).sort()).toEqual([
      ['pub', 15],
      ['svc', 15],
    ]);
  });

  it('handles 10,000 confirmed events exactly once while the consumer channel is killed twice', async () => {
    const run = randomUUID();
    const N = 10_000;
    const started = Date.now();
    const publishes = Array.from({ length: N }, (_, n) =>
      publisher.events.publish(itemCreatedV1, { n, run }),
    );

    // Kill 1: the broker closes the consumer's channel (channel error) mid-stream.
    await eventually(() => countOf(run).distinct >= 2_500, 30_000, 5);
    const [first] = consumer.server.consumerChannels();
    expect(first).toBeDefined();
    killChannel(first!);
    // Kill 2: the broker closes the consumer's connection (and so its channel).
    await eventually(() => countOf(run).distinct >= 6_000, 30_000, 5);
    expect(consumer.server.consumerChannels()[0]).not.toBe(first);
    expect(await closeConnectionsNamed(vhost.name, 'svc')).toBe(1);

    const results = await Promise.allSettled(publishes);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    await eventually(() => countOf(run).distinct === N, 45_000, 20);
    // Let redeliveries that were postponed (busy) come back round and be absorbed.
    await eventually(
      async () => (await depths(vhost.url, ['svc.events', 'svc.events.retry.1'])) === 0,
      10_000,
    );
    expect(countOf(run)).toEqual({ distinct: N, duplicates: 0 });
    expect(await depths(vhost.url, ['svc.events.dlq'])).toBe(0);
    expect(await absorbed()).toBeGreaterThan(0);
    expect(subLogs.text()).toMatch(/consumer channel closed; reopening/);
    expect(subLogs.text()).toMatch(/bus connection lost; reconnecting/);
    process.stderr.write(`10k with two kills: ${Date.now() - started} ms\n`);
  });

  it('reconnects publisher and consumer by themselves after the broker drops every connection under load', async () => {
    const run = randomUUID();
    const absorbedBefore = await absorbed();
    let published = 0;
    let dropped = false;
    let pendingAtDrop = -1;
    publisher.connection.once('disconnected', () => {
      dropped = true;
      pendingAtDrop = publisher.pendingPublishes;
    });
    const results: PromiseSettledResult<void>[] = [];
    // Publish back-to-back batches (so some are almost always unconfirmed on the
    // wire) until the broker has dropped the connection, then a few more batches
    // (which wait for the reconnect).
    const load = (async () => {
      let batchesAfterDrop = 0;
      while (batchesAfterDrop < 4 && published < 200_000) {
        const batch = Array.from({ length: 500 }, () =>
          publisher.events.publish(itemCreatedV1, { n: published++, run }),
        );
        results.push(...(await Promise.allSettled(batch)));
        if (dropped) batchesAfterDrop++;
      }
    })();
    await eventually(() => countOf(run).distinct >= 1_000, 30_000, 2);
    await closeVhostConnections(vhost.name, 'test: broker drops connections');
    await load;

    // Every publish was accepted (confirmed), none failed...
    expect(results).toHaveLength(published);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    // ...and every accepted event was handled, once.
    await eventually(() => countOf(run).distinct === published, 45_000, 20);
    await eventually(
      async () => (await depths(vhost.url, ['svc.events', 'svc.events.retry.1'])) === 0,
      10_000,
    );
    expect(countOf(run)).toEqual({ distinct: published, duplicates: 0 });
    // Whatever was unconfirmed when the connection dropped was re-sent. (Rarely the
    // broker's last acks and its connection.close arrive in one read: then nothing
    // was unconfirmed; the fake-broker unit spec covers re-sending deterministically.)
    expect(pendingAtDrop).toBeGreaterThanOrEqual(0);
    if (pendingAtDrop > 0) expect(pubLogs.text()).toMatch(/unconfirmed publishes will be re-sent/);
    expect(await absorbed()).toBeGreaterThan(absorbedBefore);
    expect(publisher.connection.isHealthy()).toBe(true);
    expect(consumer.connection.isHealthy()).toBe(true);
    expect((await listConnections(vhost.name)).filter((c) => c.connectionName).length).toBe(2);
    process.stderr.write(`connection drop under load: ${published} events\n`);
  });
});
