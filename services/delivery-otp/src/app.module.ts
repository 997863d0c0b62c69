import {
  type BeforeApplicationShutdown,
  type DynamicModule,
  Global,
  Inject,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import {
  Clock,
  HealthRegistry,
  type Logger,
  MetricsService,
  PLATFORM_LOGGER,
  PlatformModule,
  PRINCIPAL_RESOLVER,
  fingerprintKeysFrom,
  setIdempotencyPolicy,
} from '@phonegate/platform';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { BusModule, type BusModuleOptions, CreateOutbox1732240000000, EventBus, Outbox, OutboxMessage, OutboxRelay } from '@phonegate/messaging';
import type { Redis } from 'ioredis';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { CodeStore } from './codes/code.store';
import { RedisCodeStore } from './codes/redis-code.store';
import { type DeliveryOtpConfig, outboxUnroutable } from './config/delivery-otp.config';
import { DeviceRegistry } from './devices/device.registry';
import { DevicePrincipalResolver } from './devices/device-principal.resolver';
import { DevicesController } from './devices/devices.controller';
import { DevicesService } from './devices/devices.service';
import { TypeOrmDeviceRegistry } from './devices/typeorm-device.registry';
import { HandoffController } from './handoff/handoff.controller';
import { ConfirmHandoff } from './handoff/usecases/confirm-handoff';
import { UnlockHandoff } from './handoff/usecases/unlock-handoff';
import { DELIVERY_ENTITIES, DELIVERY_MIGRATIONS } from './persistence/entities';
import { PgShipmentLedger } from './persistence/pg-shipment.ledger';
import { ShipmentLedger } from './persistence/shipment.ledger';
import { TypeOrmShipmentLedger } from './persistence/typeorm-shipment.ledger';
import { CodeVault } from './shipments/code-vault';
import { CustomerCodeController } from './shipments/customer-code.controller';
import { ShipmentEventsConsumer } from './shipments/shipment-events.consumer';
import { ShipmentsController } from './shipments/shipments.controller';
import { CancelShipment } from './shipments/usecases/cancel-shipment';
import { IssueCode } from './shipments/usecases/issue-code';
import { RegenerateCode } from './shipments/usecases/regenerate-code';
import { RescheduleShipment } from './shipments/usecases/reschedule-shipment';
import { ShowCode } from './shipments/usecases/show-code';
import { DELIVERY_OTP_CONFIG } from './tokens';

export interface DeliveryOtpDeps {
  config: DeliveryOtpConfig;
  logger: Logger;
  redis: Redis;
  /** TypeORM options (PostgreSQL, or sql.js in embedded mode); entities and migrations are added here. */
  database: DataSourceOptions;
  /** libs/messaging BusModule options, or `{ bus }` built in main.ts (its server is handed to bootstrapService). */
  bus: BusModuleOptions;
  /** Outbox relay tuning (poll interval etc.); the relay runs in every replica (SKIP LOCKED). */
  relay?: { pollIntervalMs?: number; batchSize?: number; retentionMs?: number; publishTimeoutMs?: number };
  clock?: Clock;
  /** The service's metrics registry (shared with the bus counters). */
  metrics?: MetricsService;
}

const DELIVERY_REDIS = Symbol('DELIVERY_REDIS');
const DELIVERY_RELAY = Symbol('DELIVERY_OUTBOX_RELAY');

/**
 * Readiness checks, the outbox relay (after the bus started), and an ordered
 * close: relay, then the bus, then the database.
 */
class DeliveryLifecycle implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
    @Inject(DELIVERY_REDIS) private readonly redis: Redis,
    @Inject(DELIVERY_RELAY) private readonly relay: OutboxRelay,
    @Inject(EventBus) private readonly events: EventBus,
    @Inject(HttpAdapterHost) private readonly http: HttpAdapterHost,
    @Inject(DELIVERY_OTP_CONFIG) private readonly config: DeliveryOtpConfig,
  ) {}

  onModuleInit(): void {
    // Idempotency-Key (a courier device's handoff, logistics' out-for-delivery): the store's keys
    // and fingerprints under keys of delivery-otp's own (from its code HMAC keys), not the
    // caller's credential, so a named client's retry after it rotated its API key finds its first
    // answer; entries the previous version stored under the credential are still found.
    const fastify = this.http.httpAdapter?.getInstance?.<FastifyInstance>();
    if (fastify)
      setIdempotencyPolicy(fastify, {
        ...fingerprintKeysFrom(this.config.codeHmacKeys, 'delivery-otp'),
        readCredentialKeyed: true,
      });
    this.health.register({ name: 'postgres', check: async () => void (await this.dataSource.query('SELECT 1')) });
    this.health.register({
      name: 'redis',
      check: async () => {
        if ((await this.redis.ping()) !== 'PONG') throw new Error('redis did not answer PONG');
      },
    });
    this.health.register({
      name: 'rabbitmq',
      check: async () => {
        if (!this.events.isHealthy()) throw new Error('bus not connected');
      },
    });
  }

  onApplicationBootstrap(): void {
    this.relay.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.relay.stop();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

/**
 * Infrastructure ports, global so the platform's ApiKeyGuard (an app guard
 * declared in PlatformModule) can see the device principal resolver.
 */
@Global()
@Module({})
class DeliveryInfraModule {
  static forRoot(deps: DeliveryOtpDeps): DynamicModule {
    const providers = [
      { provide: DELIVERY_OTP_CONFIG, useValue: deps.config },
      { provide: DELIVERY_REDIS, useValue: deps.redis },
      {
        provide: DataSource,
        useFactory: async () => {
          const dataSource = new DataSource({
            ...deps.database,
            entities: [...DELIVERY_ENTITIES, OutboxMessage, ...((deps.database.entities as unknown[] | undefined) ?? [])],
            migrations: [CreateOutbox1732240000000, ...DELIVERY_MIGRATIONS, ...((deps.database.migrations as unknown[] | undefined) ?? [])],
            migrationsRun: true,
            synchronize: false,
          } as DataSourceOptions);
          return dataSource.initialize();
        },
      },
      { provide: CodeStore, useFactory: (logger: Logger) => new RedisCodeStore(deps.redis, logger), inject: [PLATFORM_LOGGER] },
      {
        provide: ShipmentLedger,
        // Plain SQL on PostgreSQL (and the embedded mode's PGlite); TypeORM's repositories elsewhere.
        useFactory: (ds: DataSource, outbox: Outbox, logger: Logger) =>
          ds.options.type === 'postgres' ? new PgShipmentLedger(ds, outbox, logger) : new TypeOrmShipmentLedger(ds, outbox, logger),
        inject: [DataSource, Outbox, PLATFORM_LOGGER],
      },
      {
        provide: DELIVERY_RELAY,
        useFactory: (dataSource: DataSource, events: EventBus, logger: Logger) =>
          new OutboxRelay({ dataSource, bus: events, logger, unroutable: outboxUnroutable(deps.config), ...deps.relay }),
        inject: [DataSource, EventBus, PLATFORM_LOGGER],
      },
      { provide: DeviceRegistry, useFactory: (ds: DataSource) => new TypeOrmDeviceRegistry(ds), inject: [DataSource] },
      {
        provide: DevicePrincipalResolver,
        useFactory: (devices: DeviceRegistry, clock: Clock) => new DevicePrincipalResolver(devices, clock, deps.config.deviceCacheTtlMs),
        inject: [DeviceRegistry, Clock],
      },
      { provide: PRINCIPAL_RESOLVER, useExisting: DevicePrincipalResolver },
    ];
    return { module: DeliveryInfraModule, providers, exports: providers.map((p) => p.provide) };
  }
}

@Module({})
export class DeliveryOtpAppModule {
  static forRoot(deps: DeliveryOtpDeps): DynamicModule {
    return {
      module: DeliveryOtpAppModule,
      imports: [
        PlatformModule.forRoot({
          service: 'delivery-otp',
          logger: deps.logger,
          apiKeys: deps.config.apiKeys,
          redis: deps.redis,
          ...(deps.clock ? { clock: deps.clock } : {}),
          ...(deps.metrics ? { metrics: deps.metrics } : {}),
        }),
        BusModule.forRoot(deps.bus),
        DeliveryInfraModule.forRoot(deps),
      ],
      controllers: [ShipmentsController, CustomerCodeController, HandoffController, DevicesController, ShipmentEventsConsumer],
      providers: [
        DeliveryLifecycle,
        CodeVault,
        IssueCode,
        RescheduleShipment,
        CancelShipment,
        ShowCode,
        RegenerateCode,
        ConfirmHandoff,
        UnlockHandoff,
        {
          provide: DevicesService,
          useFactory: (devices: DeviceRegistry, resolver: DevicePrincipalResolver, clock: Clock, logger: Logger) =>
            new DevicesService(devices, resolver, clock, logger),
          inject: [DeviceRegistry, DevicePrincipalResolver, Clock, PLATFORM_LOGGER],
        },
      ],
    };
  }
}
