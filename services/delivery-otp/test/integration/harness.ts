import { randomBytes } from 'node:crypto';
import type { Envelope } from '@phonegate/contracts';
import { type Bus, createBus, SensitiveCipher } from '@phonegate/messaging';
import { Clock, createLogger, createRedis, createServiceApp, type Logger, redisReady } from '@phonegate/platform';
import {
  createTestDatabase,
  createTestVhost,
  dropRedisPrefix,
  LogCapture,
  redisPrefix,
  TEST_INFRA,
  type TestDatabase,
  type TestVhost,
} from '@phonegate/platform/testing';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import type { Redis } from 'ioredis';
import { Client } from 'pg';
import { DeliveryOtpAppModule } from '../../src/app.module';
import { type DeliveryOtpConfig, keyringToBase64, loadDeliveryOtpConfig } from '../../src/config/delivery-otp.config';

export const KEYS = {
  logistics: 'lg-key-0001',
  /** The logistics client's next key (both named `logistics`: a rotation in progress). */
  logisticsNext: 'lg-key-0002',
  storefront: 'sf-key-0001',
  ops: 'ops-key-0001',
};
export const auth = (key: string) => ({ authorization: `Bearer ${key}` });

const b64 = () => randomBytes(32).toString('base64');

export interface TappedMessage {
  routingKey: string;
  raw: string;
  envelope: Envelope;
  /** data with sensitive fields decrypted with the bus key */
  data: Record<string, unknown>;
}

export interface Harness {
  app: NestFastifyApplication;
  config: DeliveryOtpConfig;
  redis: Redis;
  prefix: string;
  db: TestDatabase;
  vhost: TestVhost;
  logs: LogCapture;
  logger: Logger;
  tap: TappedMessage[];
  busEnv: { BUS_ENCRYPTION_KEYS: string };
  pg: Client;
  close(): Promise<void>;
}

/**
 * One delivery-otp app on real PostgreSQL, Redis and RabbitMQ (own database,
 * vhost and key prefix), with a tap queue bound to the notifications and
 * handoff events it publishes (read and decrypted as the notifier would).
 */
export interface HarnessOptions {
  env?: Record<string, string>;
  clock?: Clock;
  /** The routing keys the tap is bound to; default the notifications and handoff events. */
  tapKeys?: readonly string[];
  /** Outbox relay publish timeout (the relay's default otherwise). */
  publishTimeoutMs?: number;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const db = await createTestDatabase('pg_delivery');
  const vhost = await createTestVhost();
  const prefix = redisPrefix();
  const busKeys = `b1:${b64()}`;
  const config = loadDeliveryOtpConfig({
    API_KEYS: `logistics@${KEYS.logistics}:logistics,logistics@${KEYS.logisticsNext}:logistics,${KEYS.storefront}:storefront,${KEYS.ops}:ops`,
    BUS_ENCRYPTION_KEYS: busKeys,
    DELIVERY_CODE_KEYS: `c1:${b64()}`,
    CODE_HMAC_KEYS: `h1:${b64()}`,
    DATABASE_URL: db.url,
    RABBITMQ_URL: vhost.url,
    REDIS_URL: TEST_INFRA.redisUrl,
    REDIS_KEY_PREFIX: prefix,
    DELIVERY_REGENERATE_COOLDOWN: '0s',
    LOG_LEVEL: 'debug',
    ...options.env,
  });
  const logs = new LogCapture();
  const logger = createLogger({ service: 'delivery-otp', level: 'debug', destination: logs });
  const redis = createRedis({ url: TEST_INFRA.redisUrl, keyPrefix: prefix });
  await redisReady(redis);

  // The tap: declared before anything is published.
  const conn: ChannelModel = await amqp.connect(vhost.url);
  const ch: Channel = await conn.createChannel();
  await ch.assertExchange('phonegate.events', 'topic', { durable: true });
  const q = await ch.assertQueue('', { exclusive: true });
  for (const key of options.tapKeys ?? ['notification.requested.v1.#', 'delivery.handoff.#']) await ch.bindQueue(q.queue, 'phonegate.events', key);
  const ring = keyringToBase64(config.busEncryptionKeys);
  const cipher = new SensitiveCipher(ring);
  const tap: TappedMessage[] = [];
  await ch.consume(
    q.queue,
    (msg) => {
      if (!msg) return;
      const raw = msg.content.toString('utf8');
      const envelope = JSON.parse(raw) as Envelope;
      const data = cipher.decryptPaths(envelope.data, envelope.sensitive ?? [], envelope.type) as Record<string, unknown>;
      tap.push({ routingKey: msg.fields.routingKey, raw, envelope, data });
    },
    { noAck: true },
  );

  const bus = createBus({ service: 'delivery-otp', url: vhost.url, ...ring, logger, redis, unroutable: config.busUnroutable, metrics: false });
  const app = await createServiceApp({
    name: 'delivery-otp',
    module: DeliveryOtpAppModule.forRoot({
      config,
      logger,
      redis,
      database: { type: 'postgres', url: db.url, poolSize: 20 },
      bus: { bus },
      // Published rows kept (marked sent), so the tests can read the outbox at rest.
      relay: { pollIntervalMs: 200, retentionMs: 3_600_000, ...(options.publishTimeoutMs ? { publishTimeoutMs: options.publishTimeoutMs } : {}) },
      ...(options.clock ? { clock: options.clock } : {}),
    }),
    logger,
    redis,
    microservices: [bus.server],
  });
  await app.startAllMicroservices();
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  const pg = new Client({ connectionString: db.url });
  await pg.connect();

  return {
    app,
    config,
    redis,
    prefix,
    db,
    vhost,
    logs,
    logger,
    tap,
    busEnv: { BUS_ENCRYPTION_KEYS: busKeys },
    pg,
    async close() {
      await app.close();
      await pg.end();
      await conn.close().catch(() => undefined);
      redis.disconnect();
      await dropRedisPrefix(prefix);
      await vhost.drop();
      await db.drop();
    },
  };
}

/** A started bus for the logistics side, publishing into the harness's vhost (events encrypted as the service expects). */
export async function logisticsBus(h: Harness): Promise<Bus> {
  const bus = createBus({
    service: 'logistics',
    url: h.vhost.url,
    ...keyringToBase64(h.config.busEncryptionKeys),
    logger: createLogger({ service: 'logistics', destination: new LogCapture() }),
    metrics: false,
  });
  await bus.start();
  return bus;
}

/** Every value under the harness's Redis prefix, as text (strings and hashes). */
export async function dumpRedis(h: Harness): Promise<string> {
  const raw = createRedis({ url: TEST_INFRA.redisUrl });
  await redisReady(raw);
  const out: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, keys] = await raw.scan(cursor, 'MATCH', `${h.prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await raw.type(key);
        if (type === 'string') out.push(`${key}=${await raw.get(key)}`);
        else if (type === 'hash') out.push(`${key}=${JSON.stringify(await raw.hgetall(key))}`);
        else out.push(`${key}:${type}`);
      }
    } while (cursor !== '0');
  } finally {
    raw.disconnect();
  }
  return out.join('\n');
}

/** Every row of every table of the harness's database, as text. */
export async function dumpPostgres(h: Harness): Promise<string> {
  const tables = await h.pg.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
  const out: string[] = [];
  for (const { tablename } of tables.rows) {
    const rows = await h.pg.query(`SELECT * FROM "${tablename}"`);
    out.push(`${tablename}: ${JSON.stringify(rows.rows)}`);
  }
  return out.join('\n');
}

/** True when `code` appears in `text` as a token of its own (not inside a longer run of letters or digits). */
export function containsCode(text: string, code: string): boolean {
  return new RegExp(`(?<![0-9A-Za-z])${code}(?![0-9A-Za-z])`).test(text);
}

export function windowAround(nowMs: number, beforeMin = 60, afterMin = 60) {
  return { start: new Date(nowMs - beforeMin * 60_000).toISOString(), end: new Date(nowMs + afterMin * 60_000).toISOString() };
}

/** A shipment id unique to this run, tagged `tag`. */
let shipmentSeq = 0;
export function newShipmentId(tag: string): string {
  return `shp_${tag}_${++shipmentSeq}_${Date.now().toString(36)}`;
}

/** An out-for-delivery body: account acc_ana with a US number and an e-mail, a window around now. */
export function outForDeliveryBody(shipmentId: string, courierId: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    orderId: `ord_${shipmentId}`,
    accountId: 'acc_ana',
    contact: { phone: '+14155550123', email: 'ana@example.com' },
    courierId,
    window: windowAround(Date.now()),
    ...over,
  };
}

/** Registers a courier device (ops scope) and answers its secret. */
export async function courierSecret(h: Harness, courierId: string): Promise<string> {
  const res = await h.app.inject({ method: 'POST', url: `/v1/couriers/${courierId}/devices`, headers: auth(KEYS.ops), payload: {} });
  if (res.statusCode !== 201) throw new Error(`device registration answered ${res.statusCode}`);
  return res.json<{ secret: string }>().secret;
}

/** The real time, moved by hand: the service's view of "now" (Redis key expiry stays real). */
export class OffsetClock extends Clock {
  offsetMs = 0;
  override now(): Date {
    return new Date(this.nowMs());
  }
  override nowMs(): number {
    return Date.now() + this.offsetMs;
  }
}

/** A shipment.out_for_delivery.v1 event's data for account acc_bus, courier cour_bus, a window around now. */
export function outForDeliveryEvent(shipmentId: string, contact: { phone?: string; email?: string }) {
  return { shipmentId, orderId: `ord_${shipmentId}`, accountId: 'acc_bus', contact, courierId: 'cour_bus', window: windowAround(Date.now()) };
}
