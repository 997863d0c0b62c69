import { randomUUID } from 'node:crypto';
import { Controller, type INestMicroservice, Module } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import {
  createTestVhost,
  eventually,
  redisPrefix,
  TEST_INFRA,
  type TestVhost,
} from '@phonegate/platform/testing';
import type { Envelope } from '@phonegate/contracts';
import amqp from 'amqplib';
import Redis from 'ioredis';
import { Registry } from 'prom-client';
import type { DataSource, EntityManager } from 'typeorm';
import { Bus } from '../../src/bus';
import { OnEvent } from '../../src/bus.decorators';
import { OutboxRelay } from '../../src/outbox/outbox.relay';
import {
  alertRaisedV1,
  capturedLogger,
  itemCreatedV1,
  sleep,
  startMicroservice,
  TEST_CONTRACTS,
  testKeys,
} from '../support/fixtures';
import { createOutboxDatabase, type OutboxDatabase } from '../support/outbox-database';

jest.setTimeout(30_000);

const handled = new Map<string, number>();
function handledFor(run: string): number[] {
  return [...handled.entries()].filter(([k]) => k.startsWith(`${run}:`)).map(([, v]) => v);
}

@Controller()
class ItemConsumer {
  @OnEvent(itemCreatedV1)
  onItem(@Payload() data: { n: number; run: string }) {
    const key = `${data.run}:${data.n}`;
    handled.set(key, (handled.get(key) ?? 0) + 1);
  }
}

@Module({ controllers: [ItemConsumer] })
class ConsumerModule {}

/** A relay that dies between publishing and marking its rows sent. */
class CrashingRelay extends OutboxRelay {
  protected override async markSent(): Promise<void> {
    throw new Error('relay killed after publish, before mark');
  }
}

describe('transactional outbox (M5)', () => {
  let db: OutboxDatabase;
  let vhost: TestVhost;
  let dataSource: DataSource;
  let redis: Redis;
  let producer: Bus;
  let consumer: Bus;
  let app: INestMicroservice;
  const consumerRegistry = new Registry();
  const prefix = redisPrefix();
  const { logger } = capturedLogger('identity');

  async function duplicatesAbsorbed(): Promise<number> {
    const metric = await consumerRegistry.getSingleMetric('bus_consumed_total')?.get();
    return metric?.values.find((v) => v.labels['outcome'] === 'duplicate')?.value ?? 0;
  }

  async function unsent(): Promise<number> {
    const [row] = await dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM outbox WHERE sent_at IS NULL`,
    );
    return row?.n ?? -1;
  }

  async function addItems(
    manager: EntityManager,
    run: string,
    count: number,
    secret?: string,
  ): Promise<Envelope[]> {
    const out: Envelope[] = [];
    for (let n = 0; n < count; n++)
      out.push(
        await producer.outbox.add(manager, itemCreatedV1, {
          n,
          run,
          ...(secret ? { secret } : {}),
        }),
      );
    return out;
  }

  beforeAll(async () => {
    [db, vhost] = await Promise.all([createOutboxDatabase(), createTestVhost()]);
    dataSource = db.dataSource;
    await dataSource.query(`CREATE TABLE widgets (id uuid PRIMARY KEY, name text NOT NULL)`);
    redis = new Redis(TEST_INFRA.redisUrl);
    const common = { url: vhost.url, ...testKeys(), contracts: TEST_CONTRACTS, logger };
    consumer = new Bus({
      ...common,
      service: 'svc',
      redis,
      idempotency: { prefix },
      metrics: consumerRegistry,
    });
    await consumer.start();
    app = await startMicroservice(ConsumerModule, consumer.server);
    // A long poll interval: only the commit hook can publish quickly.
    producer = new Bus({
      ...common,
      service: 'identity',
      metrics: new Registry(),
      outbox: { dataSource, pollIntervalMs: 60_000 },
    });
    await producer.start();
  });

  afterAll(async () => {
    await app?.close();
    await consumer?.close();
    await producer?.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis?.disconnect();
    await Promise.all([db?.drop(), vhost?.drop()]);
  });

  it('creates the outbox table through the migration', async () => {
    const cols = await dataSource.query<{ column_name: string; data_type: string }[]>(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'outbox' ORDER BY column_name`,
    );
    expect(cols.map((c) => `${c.column_name}:${c.data_type}`)).toEqual([
      'attempts:integer',
      'created_at:timestamp with time zone',
      'envelope:jsonb',
      'id:uuid',
      'last_error:text',
      'routing_key:character varying',
      'sent_at:timestamp with time zone',
    ]);
  });

  it('matches the entity: TypeORM sees no schema change to make after the migration', async () => {
    const pending = await dataSource.driver.createSchemaBuilder().log();
    const outboxChanges = pending.upQueries.filter((q) => q.query.includes('outbox'));
    expect(outboxChanges.map((q) => q.query)).toEqual([]);
  });

  it('refuses to add outside a transaction', async () => {
    await expect(
      producer.outbox.add(dataSource.manager, itemCreatedV1, { n: 1, run: 'x' }),
    ).rejects.toThrow(/inside a transaction/);
  });

  it('publishes nothing for a transaction that rolled back', async () => {
    const run = randomUUID();
    await expect(
      dataSource.transaction(async (m) => {
        await m.query(`INSERT INTO widgets (id, name) VALUES ($1, 'w')`, [randomUUID()]);
        await addItems(m, run, 3);
        throw new Error('business rule failed');
      }),
    ).rejects.toThrow('business rule failed');
    producer.relay!.kick();
    await sleep(800);
    expect(handledFor(run)).toEqual([]);
    expect(await dataSource.query(`SELECT count(*)::int AS n FROM outbox`)).toEqual([{ n: 0 }]);
  });

  it('publishes exactly the events of a committed transaction, right after the commit, encrypted at rest', async () => {
    const run = randomUUID();
    const started = Date.now();
    await dataSource.transaction(async (m) => {
      await m.query(`INSERT INTO widgets (id, name) VALUES ($1, 'w')`, [randomUUID()]);
      await addItems(m, run, 3, '8675309');
    });
    await eventually(() => handledFor(run).length === 3, 5_000);
    expect(Date.now() - started).toBeLessThan(5_000); // the poll interval is 60 s: the commit hook kicked the relay
    await sleep(300);
    expect(handledFor(run)).toEqual([1, 1, 1]);
    await eventually(async () => (await unsent()) === 0);
    const stored = await dataSource.query<{ e: string }[]>(
      `SELECT envelope::text AS e FROM outbox`,
    );
    expect(stored.map((r) => r.e).join('\n')).not.toContain('8675309');
  });

  it('republishes after a relay dies between publish and mark; the consumer absorbs the duplicates', async () => {
    await producer.relay!.stop();
    const run = randomUUID();
    await dataSource.transaction((m) => addItems(m, run, 5));
    const crashing = new CrashingRelay({ dataSource, bus: producer.events, logger });
    await expect(crashing.relayOnce()).rejects.toThrow('relay killed after publish, before mark');
    await eventually(() => handledFor(run).length === 5);
    expect(await unsent()).toBe(5); // published, but the mark rolled back

    const before = await duplicatesAbsorbed();
    const healthy = new OutboxRelay({ dataSource, bus: producer.events, logger });
    expect(await healthy.relayOnce()).toBe(5);
    expect(await unsent()).toBe(0);
    await eventually(async () => (await duplicatesAbsorbed()) - before === 5);
    expect(handledFor(run)).toEqual([1, 1, 1, 1, 1]);
  });

  it('shares the work between relay replicas without publishing a row twice (SKIP LOCKED)', async () => {
    const run = randomUUID();
    await dataSource.transaction((m) => addItems(m, run, 400));
    const published = new Map<string, number>();
    const counting = {
      publishEnvelope: async (e: Envelope, rk: string, o?: { timeoutMs?: number }) => {
        published.set(e.id, (published.get(e.id) ?? 0) + 1);
        await sleep(2); // keep the batch's rows locked a little while
        return producer.events.publishEnvelope(e, rk, o);
      },
    };
    const relays = [1, 2, 3].map(
      () => new OutboxRelay({ dataSource, bus: counting, logger, batchSize: 50 }),
    );
    const work = relays.map(async (r) => {
      let total = 0;
      for (;;) {
        const n = await r.relayOnce();
        if (n === 0) return total;
        total += n;
      }
    });
    const totals = await Promise.all(work);
    expect(totals.reduce((a, b) => a + b, 0)).toBe(400);
    expect(totals.filter((t) => t > 0).length).toBeGreaterThan(1);
    expect(published.size).toBe(400);
    expect([...published.values()].every((c) => c === 1)).toBe(true);
    await eventually(() => handledFor(run).length === 400, 10_000);
  });

  it('deletes rows as they are published, by default: the table is only the backlog', async () => {
    await dataSource.query(`DELETE FROM outbox WHERE sent_at IS NOT NULL`);
    const run = randomUUID();
    await dataSource.transaction((m) => addItems(m, run, 30));
    const relay = new OutboxRelay({ dataSource, bus: producer.events, logger });
    let published = 0;
    while (published < 30) {
      const n = await relay.relayOnce();
      expect(n).toBeGreaterThan(0);
      published += n;
    }
    expect(await dataSource.query(`SELECT count(*)::int AS n FROM outbox`)).toEqual([{ n: 0 }]);
    await eventually(() => handledFor(run).length === 30, 10_000);
  });

  it('scans from the newest relayed row, and still finds a late commit at the next full scan', async () => {
    const relay = new OutboxRelay({
      dataSource,
      bus: producer.events,
      logger,
      scanMarginMs: 0,
      fullScanIntervalMs: 400,
    });
    while ((await relay.relayOnce()) > 0); // the backlog of earlier tests; the cursor is set
    const run = randomUUID();
    // A transaction that writes its row first and commits last.
    const late = dataSource.createQueryRunner();
    await late.connect();
    await late.startTransaction();
    await addItems(late.manager, run, 1);
    await sleep(20);
    await dataSource.transaction((m) => addItems(m, `${run}-b`, 1).then(() => undefined));
    await sleep(450); // the next poll is a full scan (it sees only the committed row)
    expect(await relay.relayOnce()).toBe(1);
    await late.commitTransaction();
    await late.release();
    // Older than the cursor: not in the partial scans, found by the next full one.
    expect(await relay.relayOnce()).toBe(0);
    await sleep(450);
    expect(await relay.relayOnce()).toBe(1);
    await eventually(
      () => handledFor(run).length === 1 && handledFor(`${run}-b`).length === 1,
      10_000,
    );
    expect(await unsent()).toBe(0);
  });

  it('with a retention, keeps published rows marked sent, and purges them past it', async () => {
    const run = randomUUID();
    await dataSource.transaction((m) => addItems(m, run, 3));
    const keeping = new OutboxRelay({
      dataSource,
      bus: producer.events,
      logger,
      retentionMs: 3_600_000,
    });
    expect(await keeping.relayOnce()).toBe(3);
    const kept = await dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM outbox WHERE sent_at IS NOT NULL AND envelope->'data'->>'run' = $1`,
      [run],
    );
    expect(kept).toEqual([{ n: 3 }]);
    expect(await keeping.purge()).toBe(0); // not past the hour yet
    await dataSource.transaction((m) => addItems(m, randomUUID(), 2));
    const short = new OutboxRelay({ dataSource, bus: producer.events, logger, retentionMs: 1 });
    await sleep(5);
    expect(await short.purge()).toBe(3);
    expect(await unsent()).toBe(2);
    expect(await dataSource.query(`SELECT count(*)::int AS n FROM outbox`)).toEqual([{ n: 2 }]);
  });

  it('backs off a row no queue is bound to: it does not hold up newer rows, stays in the outbox, and goes once bound', async () => {
    await producer.relay!.stop();
    await dataSource.query(`DELETE FROM outbox`);
    const run = randomUUID();
    // More rows than a batch for a key nothing is bound to (test.alert.raised.v1.critical), retried.
    await dataSource.transaction(async (m) => {
      for (let n = 0; n < 8; n++)
        await producer.outbox.add(m, alertRaisedV1, { n, priority: 'critical' });
    });
    await sleep(5);
    await dataSource.transaction((m) => addItems(m, run, 1)); // bound: the consumer's queue
    const relay = new OutboxRelay({
      dataSource,
      bus: producer.events,
      logger,
      batchSize: 3,
      pollIntervalMs: 100,
      publishTimeoutMs: 300,
      retryBackoffMs: 200,
      retryBackoffMaxMs: 800,
      unroutable: (rk) => (rk.endsWith('.critical') ? 'retry' : undefined),
    });
    const conn = await amqp.connect(vhost.url);
    const started = Date.now();
    relay.start();
    try {
      // Three batches of unroutable rows at 300 ms each before it, at most; not every poll forever.
      await eventually(() => handledFor(run).length === 1, 5_000);
      expect(Date.now() - started).toBeLessThan(2_000);
      // The unroutable rows were tried, failed, and are all still there (not lost).
      const stuck = () =>
        dataSource.query<{ n: number; tried: number }[]>(
          `SELECT count(*)::int AS n, count(*) FILTER (WHERE attempts >= 1)::int AS tried
           FROM outbox WHERE routing_key = 'test.alert.raised.v1.critical'`,
        );
      await eventually(async () => (await stuck())[0]?.tried === 8);
      expect(await stuck()).toEqual([{ n: 8, tried: 8 }]);

      const ch = await conn.createChannel();
      const q = await ch.assertQueue('', { exclusive: true });
      await ch.bindQueue(q.queue, 'phonegate.events', 'test.alert.raised.v1.critical');
      await eventually(async () => (await unsent()) === 0, 10_000);
      const got = new Set<number>();
      await eventually(async () => {
        for (;;) {
          const msg = await ch.get(q.queue, { noAck: true });
          if (!msg) break;
          got.add((JSON.parse(msg.content.toString('utf8')) as Envelope<{ n: number }>).data.n);
        }
        return got.size === 8;
      });
      expect([...got].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(handledFor(run)).toEqual([1]);
    } finally {
      await relay.stop();
      await conn.close();
    }
  });

  it('keeps a row no queue is bound to when its routing key must be retried, and drops the others', async () => {
    await producer.relay!.stop();
    await dataSource.query(`DELETE FROM outbox`);
    // A bus that drops what nobody is bound to; nothing is bound to test.alert.raised.v1.*.
    const dropping = new Bus({
      url: vhost.url,
      ...testKeys(),
      contracts: TEST_CONTRACTS,
      logger,
      service: 'alerts',
      metrics: new Registry(),
      unroutable: 'drop',
    });
    await dropping.start();
    const conn = await amqp.connect(vhost.url);
    try {
      await dataSource.transaction(async (m) => {
        await dropping.outbox.add(m, alertRaisedV1, { n: 1, priority: 'critical' });
        await dropping.outbox.add(m, alertRaisedV1, { n: 2, priority: 'bulk' });
      });
      const relay = new OutboxRelay({
        dataSource,
        bus: dropping.events,
        logger,
        publishTimeoutMs: 300,
        retryBackoffMs: 1, // tried again at the next poll
        unroutable: (rk) => (rk.endsWith('.critical') ? 'retry' : undefined),
      });
      expect(await relay.relayOnce()).toBe(1); // the bulk one, dropped by the bus's setting
      const left = () =>
        dataSource.query<{ routing_key: string; attempts: number; last_error: string | null }[]>(
          `SELECT routing_key, attempts, last_error FROM outbox WHERE sent_at IS NULL`,
        );
      expect(await left()).toEqual([
        {
          routing_key: 'test.alert.raised.v1.critical',
          attempts: 1,
          last_error: expect.stringContaining('unroutable'),
        },
      ]);
      await sleep(10);
      expect(await relay.relayOnce()).toBe(0);
      expect((await left())[0]?.attempts).toBe(2);

      const ch = await conn.createChannel();
      const q = await ch.assertQueue('', { exclusive: true });
      await ch.bindQueue(q.queue, 'phonegate.events', 'test.alert.raised.v1.critical');
      await sleep(10);
      expect(await relay.relayOnce()).toBe(1);
      expect(await left()).toEqual([]);
      const msg = await eventually(
        async () => (await ch.get(q.queue, { noAck: true })) || undefined,
      );
      expect((JSON.parse(msg.content.toString('utf8')) as Envelope).data).toEqual({
        n: 1,
        priority: 'critical',
      });
    } finally {
      await conn.close();
      await dropping.close();
    }
  });
});
