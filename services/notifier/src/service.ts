import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { bootstrapService, createLogger, createRedis, MetricsService } from '@phonegate/platform';
import { NotifierAppModule } from './app.module';
import { createCarrierGateway, type CarrierStackGateway } from './carrier-health/carrier-gateway.factory';
import { loadNotifierConfig } from './config/notifier.config';
import { createNotifierBus, createNotifierDataSource, postgresOptions } from './infrastructure';

export interface StartOptions {
  /** Leave SIGTERM/SIGINT to the caller (the embedded mode runs four services in one process). */
  handleSignals?: boolean;
}

export interface RunningNotifier {
  app: NestFastifyApplication;
  carriers: CarrierStackGateway;
}

/** Builds and starts the notifier from an environment (main.ts passes process.env). */
export async function startNotifierService(env: NodeJS.ProcessEnv = process.env, options: StartOptions = {}): Promise<RunningNotifier> {
  const config = loadNotifierConfig(env);
  const logger = createLogger({ service: 'notifier', level: config.logLevel });
  if (config.devKeysInUse.length) logger.warn({ variables: config.devKeysInUse }, 'development keys in use (never in production)');
  const redis = createRedis({ url: config.redis.url, keyPrefix: config.redis.keyPrefix });
  const metrics = new MetricsService('notifier');
  const dataSource = createNotifierDataSource(postgresOptions(config));
  const bus = createNotifierBus({ config, logger, redis, dataSource, registry: metrics.registry });
  const carriers = createCarrierGateway({ config, logger, redis, registry: metrics.registry });
  const app = await bootstrapService({
    name: 'notifier',
    module: NotifierAppModule.forRoot({ config, logger, redis, dataSource, bus, carriers, metrics }),
    port: config.port,
    host: config.host,
    logger,
    redis,
    microservices: [bus.server],
    ...(options.handleSignals === false ? { handleSignals: false } : {}),
    swagger: { title: 'phonegate notifier', description: 'Message status for support, carrier health, carrier receipts, order updates.' },
    onShutdown: async () => {
      await redis.quit().catch(() => undefined);
    },
  });
  return { app, carriers };
}
