import type { Priority } from '@phonegate/contracts';
import { Bus, type BusOptions, type EventQueueOptions } from '@phonegate/messaging';
import type { Logger } from '@phonegate/platform';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { DataSource, type DataSourceOptions } from 'typeorm';
import type { NotifierConfig } from './config/notifier.config';
import { HandledEventsGuard } from './dispatch/handled-events.guard';
import { PRIORITY_QUEUES } from './dispatch/priority-lanes';
import { NOTIFIER_ENTITIES, NOTIFIER_MIGRATIONS } from './migrations';

/** PostgreSQL options from the config (embedded mode passes its own, e.g. sql.js). */
export function postgresOptions(config: NotifierConfig): DataSourceOptions {
  return {
    type: 'postgres',
    url: config.databaseUrl,
    extra: { max: config.dbPoolSize },
    logging: false,
  };
}

/** The notifier's DataSource (not yet initialised: the app module runs the migrations when it starts). */
export function createNotifierDataSource(options: DataSourceOptions): DataSource {
  return new DataSource({
    ...options,
    entities: [...NOTIFIER_ENTITIES, ...((options.entities as unknown[] | undefined) ?? [])],
    migrations: [...NOTIFIER_MIGRATIONS, ...((options.migrations as unknown[] | undefined) ?? [])],
    migrationsRun: true,
    // Each migration in its own transaction, so that one can run without (an index built
    // CONCURRENTLY); the default ('all') refuses such a migration.
    migrationsTransactionMode: 'each',
    synchronize: false,
  } as DataSourceOptions);
}

/** WIRE NAMES: what each priority queue is bound to. */
export const PRIORITY_BINDINGS: Record<Priority, readonly string[]> = {
  critical: ['notification.requested.v1.critical'],
  standard: ['notification.requested.v1.standard', 'order.status_changed.v1.standard'],
  bulk: ['notification.requested.v1.bulk', 'order.status_changed.v1.bulk'],
};

export function priorityQueues(config: NotifierConfig): EventQueueOptions[] {
  return (['critical', 'standard', 'bulk'] as const).map((p) => ({
    name: PRIORITY_QUEUES[p].replace(/^notifier\./, ''),
    bindings: PRIORITY_BINDINGS[p],
    prefetch: config.lanes[p].prefetch,
    consumers: config.lanes[p].consumers,
  }));
}

export interface NotifierBusSettings {
  config: NotifierConfig;
  logger: Logger;
  redis: Redis;
  dataSource: DataSource;
  registry: Registry;
  /** Overrides (tests: a short publish timeout, another exchange...). */
  extra?: Partial<BusOptions>;
}

/**
 * The notifier's bus: one queue per priority (own prefetch and consumers), the
 * contact events on `notifier.events`, retry tiers for messages handed back,
 * and the outbox relay for outcome events. Outcome events nobody listens to
 * are dropped rather than retried (`unroutable: 'drop'`).
 */
export function createNotifierBus(s: NotifierBusSettings): Bus {
  return new Bus({
    service: 'notifier',
    url: s.config.rabbitmqUrl,
    keys: s.config.bus.keys,
    activeKeyId: s.config.bus.activeKeyId,
    logger: s.logger,
    prefetch: s.config.bus.eventsPrefetch,
    queues: priorityQueues(s.config),
    retry: { delaysMs: s.config.bus.retryDelaysMs, maxAttempts: s.config.bus.maxAttempts },
    guard: new HandledEventsGuard(s.redis, new Set(Object.values(PRIORITY_QUEUES))),
    unroutable: 'drop',
    metrics: s.registry,
    outbox: { dataSource: s.dataSource, pollIntervalMs: s.config.outboxPollMs },
    ...s.extra,
  });
}
