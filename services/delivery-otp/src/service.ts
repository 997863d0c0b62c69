import 'reflect-metadata';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createBus } from '@phonegate/messaging';
import { bootstrapService, createLogger, createRedis, MetricsService } from '@phonegate/platform';
import { DeliveryOtpAppModule } from './app.module';
import { keyringToBase64, loadDeliveryOtpConfig } from './config/delivery-otp.config';

export interface StartOptions {
  /** Leave SIGTERM/SIGINT to the caller (the embedded mode runs four services in one process). */
  handleSignals?: boolean;
}

/** Builds and starts the delivery-otp service from an environment (main.ts passes process.env). */
export async function startDeliveryOtpService(env: NodeJS.ProcessEnv = process.env, options: StartOptions = {}): Promise<NestFastifyApplication> {
  const config = loadDeliveryOtpConfig(env);
  const logger = createLogger({ service: 'delivery-otp', level: config.logLevel });
  if (config.devKeysInUse.length) logger.warn({ unset: config.devKeysInUse }, 'development keys in use (never in production)');
  const redis = createRedis({ url: config.redis.url, keyPrefix: config.redis.keyPrefix, commandTimeoutMs: config.redis.commandTimeoutMs });
  const metrics = new MetricsService('delivery-otp');
  const bus = createBus({
    service: 'delivery-otp',
    url: config.rabbitmqUrl,
    ...keyringToBase64(config.busEncryptionKeys),
    logger,
    redis,
    unroutable: config.busUnroutable,
    metrics: metrics.registry,
  });
  return bootstrapService({
    name: 'delivery-otp',
    module: DeliveryOtpAppModule.forRoot({
      config,
      logger,
      redis,
      database: { type: 'postgres', url: config.databaseUrl, poolSize: config.databasePoolSize },
      bus: { bus },
      relay: { pollIntervalMs: config.outboxPollIntervalMs },
      metrics,
    }),
    port: config.port,
    host: config.host,
    logger,
    redis,
    microservices: [bus.server],
    ...(options.handleSignals === false ? { handleSignals: false } : {}),
    swagger: { title: 'phonegate delivery-otp', description: "Delivery handoff codes: out for delivery, the customer's code, courier devices and handoff." },
    onShutdown: async () => {
      redis.disconnect();
    },
  });
}
