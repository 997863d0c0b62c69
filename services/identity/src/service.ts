import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { bootstrapService, createLogger, createRedis } from '@phonegate/platform';
import { IdentityAppModule } from './app.module';
import { activeBusKeyId, loadIdentityConfig } from './config/identity.config';
import { postgresOptions } from './database.module';

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
  const module = IdentityAppModule.forRoot({
    config,
    logger,
    redis,
    database: postgresOptions(config.DATABASE_URL, config.DATABASE_POOL_SIZE),
    bus: {
      service: 'identity',
      url: config.RABBITMQ_URL,
      keys: Object.fromEntries([...config.BUS_ENCRYPTION_KEYS.keys].map(([kid, key]) => [kid, key.toString('base64')])),
      activeKeyId: activeBusKeyId(config),
      logger,
      unroutable: config.BUS_UNROUTABLE,
      rpcTimeoutMs: config.IDENTITY_OTP_TIMEOUT,
    },
  });
  return bootstrapService({
    name: 'identity',
    module,
    port: config.PORT,
    host: config.HOST,
    logger,
    redis,
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
