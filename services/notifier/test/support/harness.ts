import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { type EventContract, type EventData } from '@phonegate/contracts';
import { Bus } from '@phonegate/messaging';
import {
  createLogger,
  createRedis,
  createServiceApp,
  type Logger,
  MetricsService,
  redisReady,
} from '@phonegate/platform';
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
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { NotifierAppModule } from '../../src/app.module';
import type { CarrierGateway } from '../../src/carrier-health/carrier-gateway';
import { loadNotifierConfig, type NotifierConfig } from '../../src/config/notifier.config';
import {
  createNotifierBus,
  createNotifierDataSource,
  postgresOptions,
} from '../../src/infrastructure';

export const OPS = { authorization: 'Bearer ops-key-123' };
export const STOREFRONT = { authorization: 'Bearer sf-key-123' };
export const TEST_API_KEYS = 'ops-key-123:ops,sf-key-123:storefront';
export const TEST_BUS_KEYS = `t1:${Buffer.from('notifier-test-bus-key-32-bytes!!').toString('base64')}`;

/** Infrastructure of one test file: its own database, vhost and Redis prefix. */
export interface TestInfra {
  db: TestDatabase;
  vhost: TestVhost;
  prefix: string;
  /** Environment for a notifier on this infrastructure (in process or as a child process). */
  env: Record<string, string>;
  drop(): Promise<void>;
}

export async function createTestInfra(extraEnv: Record<string, string> = {}): Promise<TestInfra> {
  const [db, vhost] = await Promise.all([
    createTestDatabase('pg_notifier'),
    createTestVhost('t_notifier'),
  ]);
  const prefix = redisPrefix();
  return {
    db,
    vhost,
    prefix,
    env: {
      NODE_ENV: 'test',
      DATABASE_URL: db.url,
      RABBITMQ_URL: vhost.url,
      REDIS_URL: TEST_INFRA.redisUrl,
      REDIS_KEY_PREFIX: prefix,
      API_KEYS: TEST_API_KEYS,
      BUS_ENCRYPTION_KEYS: TEST_BUS_KEYS,
      NOTIFIER_DESTINATION_HASH_KEYS: `h1:${Buffer.from('notifier-test-hash-key-32-bytes!').toString('base64')}`,
      NOTIFIER_ORIGIN_HOST: 'shop.example.com',
      ...extraEnv,
    },
    async drop() {
      await Promise.allSettled([db.drop(), vhost.drop(), dropRedisPrefix(prefix)]);
    },
  };
}

export interface InProcessNotifier {
  app: NestFastifyApplication;
  config: NotifierConfig;
  redis: Redis;
  dataSource: DataSource;
  bus: Bus;
  metrics: MetricsService;
  logs: LogCapture;
  logger: Logger;
  close(): Promise<void>;
}

/** The notifier in this process on the test's infrastructure, with the given carriers. */
export async function startNotifier(
  infra: TestInfra,
  makeCarriers: (deps: {
    config: NotifierConfig;
    logger: Logger;
    redis: Redis;
    metrics: MetricsService;
  }) => CarrierGateway,
  env: Record<string, string> = {},
  listen = false,
): Promise<InProcessNotifier> {
  const logs = new LogCapture();
  const config = loadNotifierConfig({ ...infra.env, ...env });
  const logger = createLogger({ service: 'notifier', level: 'debug', destination: logs });
  const redis = createRedis({ url: config.redis.url, keyPrefix: config.redis.keyPrefix });
  await redisReady(redis);
  const metrics = new MetricsService('notifier', false);
  const dataSource = createNotifierDataSource(postgresOptions(config));
  const bus = createNotifierBus({ config, logger, redis, dataSource, registry: metrics.registry });
  const carriers = makeCarriers({ config, logger, redis, metrics });
  const app = await createServiceApp({
    name: 'notifier',
    module: NotifierAppModule.forRoot({
      config,
      logger,
      redis,
      dataSource,
      bus,
      carriers,
      metrics,
    }),
    logger,
    redis,
    microservices: [bus.server],
  });
  await app.init();
  await app.startAllMicroservices();
  if (listen) await app.listen({ port: config.port, host: '127.0.0.1' });
  else await app.getHttpAdapter().getInstance().ready();
  return {
    app,
    config,
    redis,
    dataSource,
    bus,
    metrics,
    logs,
    logger,
    async close() {
      await app.close();
      await redis.quit().catch(() => undefined);
    },
  };
}

/** A bus for the test itself to publish events on the notifier's vhost (as identity, otp, the storefront would). */
export async function startPublisher(infra: TestInfra, logger: Logger): Promise<Bus> {
  const bus = new Bus({
    service: 'test-publisher',
    url: infra.vhost.url,
    keys: { t1: TEST_BUS_KEYS.slice(3) },
    activeKeyId: 't1',
    logger,
    metrics: false,
    unroutable: 'drop',
  });
  await bus.start();
  return bus;
}

export function publish<C extends EventContract>(
  bus: Bus,
  contract: C,
  data: EventData<C>,
  opts: { time?: Date; id?: string } = {},
): Promise<void> {
  return bus.events.publish(contract, data, opts);
}

export function silentLogger(): Logger {
  return createLogger({ service: 'test', level: 'silent' });
}

/**
 * Whether `text` holds `code` as a value of its own (not as part of a longer hex or digit run,
 * such as a UUID or a timestamp that happens to contain the same digits).
 */
export function containsCode(text: string, code: string): boolean {
  return new RegExp(`(?<![0-9a-fA-F])${code}(?![0-9a-fA-F])`).test(text);
}

/** GET /v1/messages/:id as the tests read it. */
export interface MessageJson {
  messageId: string;
  status: string;
  to: string | null;
  carrier: string | null;
  attempts: number;
  segments: number | null;
  body: string;
  timeline: { status: string; at: string; carrier?: string; reason?: string }[];
  [field: string]: unknown;
}
