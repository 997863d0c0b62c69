import {
  type DynamicModule,
  Global,
  Inject,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Bus, BusModule } from '@phonegate/messaging';
import {
  Clock,
  HealthRegistry,
  type Logger,
  MetricsService,
  PLATFORM_LOGGER,
  PlatformModule,
  fingerprintKeysFrom,
  setIdempotencyPolicy,
} from '@phonegate/platform';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { CarrierGateway } from './carrier-health/carrier-gateway';
import { CarriersController } from './carrier-health/carriers.controller';
import type { NotifierConfig } from './config/notifier.config';
import { ContactDirectory } from './contacts/contact-directory';
import { ContactsConsumer } from './contacts/contacts.consumer';
import { PreferencesController } from './contacts/preferences.controller';
import { TypeOrmContactDirectory } from './contacts/typeorm-contact.directory';
import { DeliveryRateSignal } from './dispatch/delivery-rate.signal';
import { DestinationResolver } from './dispatch/destination.resolver';
import { DispatchService } from './dispatch/dispatch.service';
import { MessageClaims } from './dispatch/message-claims';
import { MessageLocks } from './dispatch/message-locks';
import { NotificationConsumer } from './dispatch/notification.consumer';
import { PriorityLanes } from './dispatch/priority-lanes';
import { DestinationHasher } from './messages/destination';
import { MessageLog } from './messages/message-log';
import { MessagesController } from './messages/messages.controller';
import { PostgresMessageLog } from './messages/postgres-message.log';
import { TypeOrmMessageLog } from './messages/typeorm-message.log';
import { NotifierMetrics } from './metrics/notifier.metrics';
import { NotificationsController } from './notifications/notifications.controller';
import { RequestNotification } from './notifications/request-notification';
import { ReceiptService } from './receipts/receipt.service';
import { RECEIPT_CALLBACK_BASE, ReceiptsController } from './receipts/receipts.controller';
import { TemplateService } from './templates/template.service';
import { NOTIFIER_CONFIG, NOTIFIER_REDIS } from './tokens';

export interface NotifierDeps {
  config: NotifierConfig;
  logger: Logger;
  redis: Redis;
  /** Created with createNotifierDataSource (PostgreSQL, or sql.js in embedded mode); initialised here. */
  dataSource: DataSource;
  /** Created with createNotifierBus (its server is handed to bootstrapService as the microservice). */
  bus: Bus;
  carriers: CarrierGateway;
  metrics: MetricsService;
  clock?: Clock;
}

/** Opens the database (migrations), starts the carriers, registers readiness checks; closes in reverse. */
class NotifierLifecycle implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
    @Inject(NOTIFIER_REDIS) private readonly redis: Redis,
    @Inject(Bus) private readonly bus: Bus,
    @Inject(CarrierGateway) private readonly carriers: CarrierGateway,
    @Inject(ReceiptService) private readonly receipts: ReceiptService,
    @Inject(HttpAdapterHost) private readonly http: HttpAdapterHost,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
    @Inject(NOTIFIER_CONFIG) private readonly config: NotifierConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    this.health.register({
      name: 'postgres',
      check: async () => void (await this.dataSource.query('SELECT 1')),
    });
    this.health.register({
      name: 'redis',
      check: async () => {
        if ((await this.redis.ping()) !== 'PONG') throw new Error('redis did not answer PONG');
      },
    });
    this.health.register({
      name: 'rabbitmq',
      check: async () => {
        if (!this.bus.isHealthy()) throw new Error('not connected to the broker');
      },
    });
    const fastify = this.http.httpAdapter?.getInstance?.<import('fastify').FastifyInstance>();
    // Idempotency-Key (POST /v1/notifications): the store's keys and fingerprints under keys of
    // the notifier's own (from its destination-hash keys), not the caller's credential, so a
    // client's retry after it rotated its API key (named clients in API_KEYS) finds its first
    // answer instead of sending twice; entries stored before a rotation of those keys, or by
    // the previous version (under the credential), are still found.
    if (fastify)
      setIdempotencyPolicy(fastify, {
        ...fingerprintKeysFrom(this.config.destinationHashKeys, 'notifier'),
        readCredentialKeyed: true,
      });
    // Carriers post status callbacks form-encoded.
    if (fastify && !fastify.hasContentTypeParser('application/x-www-form-urlencoded')) {
      fastify.addContentTypeParser(
        'application/x-www-form-urlencoded',
        { parseAs: 'string', bodyLimit: 16 * 1024 },
        (_req, body, done) => {
          done(null, Object.fromEntries(new URLSearchParams(body as string)));
        },
      );
    }
    this.carriers.onReceipt((receipt) => {
      this.receipts
        .apply(receipt)
        .catch((error: unknown) =>
          this.logger.error({ err: error, carrier: receipt.carrier }, 'receipt not recorded'),
        );
    });
    this.carriers.onLateAcceptance((late) => {
      this.receipts
        .applyLateAcceptance(late)
        .catch((error: unknown) =>
          this.logger.error(
            { err: error, carrier: late.carrierId, messageId: late.messageId },
            'late acceptance not recorded',
          ),
        );
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.carriers.start();
  }

  async onApplicationShutdown(): Promise<void> {
    // The bus drains first (in-flight sends finish), then the carriers and the database close.
    await this.bus.close().catch(() => undefined);
    await this.carriers.close().catch(() => undefined);
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

@Global()
@Module({})
class NotifierInfraModule {
  static forRoot(deps: NotifierDeps): DynamicModule {
    const { config } = deps;
    const providers = [
      { provide: NOTIFIER_CONFIG, useValue: config },
      { provide: NOTIFIER_REDIS, useValue: deps.redis },
      { provide: CarrierGateway, useValue: deps.carriers },
      {
        provide: DataSource,
        useFactory: async () =>
          deps.dataSource.isInitialized ? deps.dataSource : deps.dataSource.initialize(),
      },
      {
        provide: MessageLog,
        useFactory: (ds: DataSource, bus: Bus) =>
          ds.options.type === 'postgres'
            ? new PostgresMessageLog(ds, bus.outbox, {
                codec: bus.codec,
                kick: () => bus.relay?.kick(),
              })
            : new TypeOrmMessageLog(ds, bus.outbox),
        inject: [DataSource, Bus],
      },
      {
        provide: ContactDirectory,
        useFactory: (ds: DataSource) => new TypeOrmContactDirectory(ds),
        inject: [DataSource],
      },
      {
        provide: NotifierMetrics,
        useFactory: (m: MetricsService) => new NotifierMetrics(m),
        inject: [MetricsService],
      },
      { provide: TemplateService, useValue: new TemplateService(config.templates) },
      { provide: DestinationHasher, useValue: new DestinationHasher(config.destinationHashKeys) },
      {
        provide: DestinationResolver,
        useFactory: (c: ContactDirectory) => new DestinationResolver(c),
        inject: [ContactDirectory],
      },
      { provide: RECEIPT_CALLBACK_BASE, useValue: config.carriers.receiptCallbackBaseUrl },
    ];
    return { module: NotifierInfraModule, providers, exports: providers.map((p) => p.provide) };
  }
}

@Module({})
export class NotifierAppModule {
  static forRoot(deps: NotifierDeps): DynamicModule {
    const { config } = deps;
    return {
      module: NotifierAppModule,
      imports: [
        PlatformModule.forRoot({
          service: 'notifier',
          logger: deps.logger,
          apiKeys: config.apiKeys,
          redis: deps.redis,
          metrics: deps.metrics,
          ...(deps.clock ? { clock: deps.clock } : {}),
        }),
        BusModule.forRoot({ bus: deps.bus }),
        NotifierInfraModule.forRoot(deps),
      ],
      controllers: [
        NotificationsController,
        MessagesController,
        PreferencesController,
        CarriersController,
        ReceiptsController,
        NotificationConsumer,
        ContactsConsumer,
      ],
      providers: [
        NotifierLifecycle,
        {
          provide: DispatchService,
          useFactory: (
            log: MessageLog,
            resolver: DestinationResolver,
            templates: TemplateService,
            carriers: CarrierGateway,
            hasher: DestinationHasher,
            clock: Clock,
            metrics: NotifierMetrics,
            logger: Logger,
            dataSource: DataSource,
          ) =>
            new DispatchService(
              log,
              resolver,
              templates,
              carriers.sender,
              hasher,
              clock,
              metrics,
              logger,
              new MessageLocks(deps.redis, logger, config.dedupeTtlMs),
              new MessageClaims(dataSource, logger),
              {
                ttlMs: {
                  critical: config.lanes.critical.ttlMs,
                  standard: config.lanes.standard.ttlMs,
                  bulk: config.lanes.bulk.ttlMs,
                },
                retryDelaysMs: config.retry.delaysMs,
                holdMs: config.retry.holdMs,
              },
            ),
          inject: [
            MessageLog,
            DestinationResolver,
            TemplateService,
            CarrierGateway,
            DestinationHasher,
            Clock,
            NotifierMetrics,
            PLATFORM_LOGGER,
            DataSource,
          ],
        },
        {
          provide: PriorityLanes,
          useFactory: (dispatch: DispatchService, metrics: NotifierMetrics, clock: Clock) =>
            new PriorityLanes(dispatch, metrics, clock, config.lanes, config.bus.maxAttempts, {
              standardMs: config.yieldMs.standard,
              bulkMs: config.yieldMs.bulk,
              pressureLagMs: config.codesLateLagMs,
              maxHoldMs: config.lowerLaneHoldMs,
            }),
          inject: [DispatchService, NotifierMetrics, Clock],
        },
        {
          provide: RequestNotification,
          useFactory: (
            log: MessageLog,
            contacts: ContactDirectory,
            resolver: DestinationResolver,
            templates: TemplateService,
            hasher: DestinationHasher,
            clock: Clock,
            logger: Logger,
          ) => new RequestNotification(log, contacts, resolver, templates, hasher, clock, logger),
          inject: [
            MessageLog,
            ContactDirectory,
            DestinationResolver,
            TemplateService,
            DestinationHasher,
            Clock,
            PLATFORM_LOGGER,
          ],
        },
        {
          provide: ReceiptService,
          useFactory: (
            log: MessageLog,
            metrics: NotifierMetrics,
            clock: Clock,
            logger: Logger,
            carriers: CarrierGateway,
          ) => {
            const receipts = new ReceiptService(
              log,
              metrics,
              clock,
              logger,
              config.receiptMatchWaitMs,
            );
            // B6: the receipts' delivery rate can open a carrier's breaker.
            const deliveryRate = new DeliveryRateSignal(
              (carrier, reason) => carriers.tripBreaker(carrier, reason),
              metrics,
              clock,
              logger,
              config.deliveryRate,
            );
            receipts.onApplied((receipt) => deliveryRate.observe(receipt));
            return receipts;
          },
          inject: [MessageLog, NotifierMetrics, Clock, PLATFORM_LOGGER, CarrierGateway],
        },
      ],
    };
  }
}
