import type { DynamicModule } from '@nestjs/common';
import { Bus, type BusOptions } from '@phonegate/messaging';
import {
  type Clock,
  createLogger,
  createRedis,
  type Logger,
  MetricsService,
} from '@phonegate/platform';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { OtpAppModule, otpDataSourceOptions } from './app.module';
import type { OtpConfig } from './config/otp.config';

export interface OtpRuntime {
  config: OtpConfig;
  logger: Logger;
  redis: Redis;
  dataSource: DataSource;
  bus: Bus;
  metrics: MetricsService;
  module: DynamicModule;
  /** Closes what the Nest app does not (Redis); call after app.close(). */
  close(): Promise<void>;
}

export interface OtpRuntimeOptions {
  logger?: Logger;
  clock?: Clock;
  /** Extra or overriding bus options (tests: shorter timeouts, classic queues). */
  bus?: Partial<BusOptions>;
}

/**
 * Wires the infrastructure of one otp process: the Redis client (see README,
 * R2: no automatic re-send of commands in flight when a connection drops), the
 * DataSource shared with the outbox relay, the bus, the metrics registry, and
 * the app module. main.ts, the tests and the bench all build it this way.
 */
export function buildOtpRuntime(config: OtpConfig, options: OtpRuntimeOptions = {}): OtpRuntime {
  const logger = options.logger ?? createLogger({ service: 'otp', level: config.logLevel });
  const redis = createRedis(
    {
      url: config.redis.url,
      keyPrefix: config.redis.keyPrefix,
      commandTimeoutMs: config.redis.commandTimeoutMs,
    },
    // Commands issued in one tick go out in one write (many concurrent requests, few syscalls).
    { autoResendUnfulfilledCommands: false, enableAutoPipelining: true },
  );
  redis.on('error', (error: Error) => logger.warn({ err: error.message }, 'redis error'));
  const metrics = new MetricsService('otp');
  const dataSource = new DataSource(
    otpDataSourceOptions({ type: 'postgres', url: config.databaseUrl, extra: { max: config.databasePoolSize } }),
  );
  const bus = new Bus({
    service: 'otp',
    url: config.rabbitmqUrl,
    keys: Object.fromEntries(
      [...config.busKeys.keys].map(([kid, key]) => [kid, key.toString('base64')]),
    ),
    activeKeyId: config.busKeys.activeKeyId,
    logger,
    redis,
    prefetch: config.busPrefetch,
    publishTimeoutMs: config.publishTimeoutMs,
    metrics: metrics.registry,
    outbox: { dataSource },
    ...(options.clock ? { clock: options.clock } : {}),
    ...options.bus,
  });
  const module = OtpAppModule.forRoot({
    config,
    logger,
    redis,
    database: dataSource,
    bus: { bus },
    metrics,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  return {
    config,
    logger,
    redis,
    dataSource,
    bus,
    metrics,
    module,
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
