import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Bus } from '@phonegate/messaging';
import { bootstrapService, createLogger, createRedis, MetricsService } from '@phonegate/platform';
import { IdentityAppModule } from './app.module';
import { activeBusKeyId, loadIdentityConfig } from './config/identity.config';
import { identityDataSource, postgresOptions } from './database.module';

export interface StartOptions {
  /** Leave SIGTERM/SIGINT to the caller (the embedded mode runs four services in one process). */
  handleSignals?: boolean;
}

/** Builds and starts the identity service from an environment (main.ts passes process.env). */
export async function startIdentityService(env: NodeJS.ProcessEnv = process.env, options: StartOptions = {}): Promise<NestFastifyApplication> {
  const config = loadIdentityConfig(env);
  const logger = createLogger({ service: 'identity', level: config.LOG_LEVEL });
  const redis = createRedis({ url: config.REDIS_URL, keyPrefix: config.REDIS_KEY_PREFIX });
  redis.on('error', (error: Error) => logger.warn({ err: error.message }, 'redis error'));
  // The bus is built here (with the DataSource its outbox relay shares) so that its server can be
  // connected: identity answers commands too (identity.account.exists.v1, asked by the otp service).
  const metrics = new MetricsService('identity');
  const dataSource = identityDataSource(postgresOptions(config.DATABASE_URL, config.DATABASE_POOL_SIZE));
  const bus = new Bus({
    service: 'identity',
    url: config.RABBITMQ_URL,
    keys: Object.fromEntries([...config.BUS_ENCRYPTION_KEYS.keys].map(([kid, key]) => [kid, key.toString('base64')])),
    activeKeyId: activeBusKeyId(config),
    logger,
    unroutable: config.BUS_UNROUTABLE,
    rpcTimeoutMs: config.IDENTITY_OTP_TIMEOUT,
    metrics: metrics.registry,
    outbox: { dataSource },
  });
  const module = IdentityAppModule.forRoot({ config, logger, redis, database: dataSource, bus: { bus }, metrics });
  return bootstrapService({
    name: 'identity',
    module,
    port: config.PORT,
    host: config.HOST,
    logger,
    redis,
    microservices: [bus.server],
    ...(options.handleSignals === false ? { handleSignals: false } : {}),
    swagger: {
      title: 'phonegate identity',
      description: 'Accounts, mobile numbers, two-step settings, sign-in with codes, password recovery. Errors are application/problem+json.',
    },
    onShutdown: async () => {
      redis.disconnect();
    },
  });
}
