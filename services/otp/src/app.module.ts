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
import { BusModule, type BusModuleOptions, EventBus, Outbox } from '@phonegate/messaging';
import {
  Clock,
  HealthRegistry,
  type Logger,
  MetricsService,
  PLATFORM_LOGGER,
  fingerprintKeysFrom,
  PlatformModule,
  setIdempotencyPolicy,
} from '@phonegate/platform';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { AccountsConsumer } from './accounts/accounts.consumer';
import { IdentityAccountLookup } from './accounts/identity-account-lookup';
import { KnownAccounts } from './accounts/known-accounts';
import { AccountSignals } from './alerts/account-signals.store';
import { Messenger } from './alerts/messenger';
import { OtpBusHandlers } from './bus/otp-bus.handlers';
import { ChallengeService } from './challenges/challenge.service';
import { RedisChallengeStore } from './challenges/challenge.store';
import { ExpirySweeper } from './challenges/expiry.sweeper';
import { VerificationsController } from './challenges/verifications.controller';
import { KeyedHasher } from './codes/keyed-hash';
import { SecretBox } from './codes/secret-box';
import type { OtpConfig } from './config/otp.config';
import { FactorService } from './factors/factor.service';
import { FactorsController } from './factors/factors.controller';
import { AccountFailures } from './limits/account-failures.store';
import { RedisGates } from './limits/gates.store';
import { RedisPumping } from './limits/pumping.store';
import { SendGuard } from './limits/send-guard';
import { OTP_ENTITIES, OTP_MIGRATIONS } from './migrations';
import { OtpMetrics } from './otp.metrics';
import {
  EVENT_PUBLISHER,
  type EventPublisher,
  OTP_CONFIG,
  OTP_REDIS,
} from './ports/event-publisher';

export interface OtpDeps {
  config: OtpConfig;
  logger: Logger;
  /** ioredis with the service's key prefix (autoResendUnfulfilledCommands off, see README R2). */
  redis: Redis;
  /** TypeORM options (entities and migrations are added), or a DataSource built by the caller (shared with the outbox relay). */
  database: DataSourceOptions | DataSource;
  bus: BusModuleOptions;
  clock?: Clock;
  metrics?: MetricsService;
}

/** The otp entities and migrations added to any TypeORM options. */
export function otpDataSourceOptions(options: DataSourceOptions): DataSourceOptions {
  return {
    ...options,
    entities: [...OTP_ENTITIES, ...((options.entities as unknown[] | undefined) ?? [])],
    migrations: [...OTP_MIGRATIONS, ...((options.migrations as unknown[] | undefined) ?? [])],
    migrationsRun: true,
    synchronize: false,
  } as DataSourceOptions;
}

/**
 * The Idempotency-Key keys: derived from the code keys (HKDF), the same on every replica; the
 * active key's for new entries, the others' to find entries stored before a rotation.
 */
export function idempotencyKeys(config: Pick<OtpConfig, 'codeKeys'>) {
  return fingerprintKeysFrom(config.codeKeys, 'otp');
}

/** Readiness checks, the expiry sweeper, and the Idempotency-Key policy. */
class OtpLifecycle implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
    @Inject(OTP_REDIS) private readonly redis: Redis,
    @Inject(EventBus) private readonly bus: EventBus,
    @Inject(ExpirySweeper) private readonly sweeper: ExpirySweeper,
    @Inject(HttpAdapterHost) private readonly http: HttpAdapterHost,
    @Inject(OTP_CONFIG) private readonly config: OtpConfig,
  ) {}

  onModuleInit(): void {
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
    // The platform's Idempotency-Key store keeps the first answer in Redis, sealed under a key
    // derived from the client's Idempotency-Key (never stored), so a TOTP secret or backup codes
    // in an answer are not readable at rest and a lost answer can still be replayed (API.md).
    // A check's body holds a code: the store keeps only an HMAC of it under a key of otp's own
    // (from the active code key), never something a guess at the code can be checked against (C2).
    const fastify = this.http.httpAdapter?.getInstance<FastifyInstance>();
    if (fastify)
      setIdempotencyPolicy(fastify, idempotencyKeys(this.config));
  }

  onApplicationBootstrap(): void {
    this.sweeper.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.sweeper.stop();
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

@Global()
@Module({})
class OtpInfraModule {
  static forRoot(deps: OtpDeps): DynamicModule {
    const c = deps.config;
    const providers = [
      { provide: OTP_CONFIG, useValue: c },
      { provide: OTP_REDIS, useValue: deps.redis },
      {
        provide: DataSource,
        useFactory: async () => {
          const ds =
            deps.database instanceof DataSource
              ? deps.database
              : new DataSource(otpDataSourceOptions(deps.database));
          return ds.isInitialized ? ds : ds.initialize();
        },
      },
      { provide: KeyedHasher, useValue: new KeyedHasher(c.codeKeys) },
      { provide: SecretBox, useValue: new SecretBox(c.secretKeys) },
      { provide: RedisChallengeStore, useValue: new RedisChallengeStore(deps.redis) },
      { provide: RedisGates, useValue: new RedisGates(deps.redis) },
      { provide: RedisPumping, useValue: new RedisPumping(deps.redis, c.pumping) },
      {
        provide: AccountSignals,
        useValue: new AccountSignals(
          deps.redis,
          c.account.unrequestedThreshold,
          c.account.unrequestedWindowMs,
        ),
      },
      { provide: AccountFailures, useValue: new AccountFailures(deps.redis, c.account) },
      { provide: EVENT_PUBLISHER, useExisting: EventBus },
      {
        provide: OtpMetrics,
        useFactory: (m: MetricsService) => new OtpMetrics(m),
        inject: [MetricsService],
      },
    ];
    return { module: OtpInfraModule, providers, exports: providers.map((p) => p.provide) };
  }
}

@Module({})
export class OtpAppModule {
  static forRoot(deps: OtpDeps): DynamicModule {
    const c = deps.config;
    return {
      module: OtpAppModule,
      imports: [
        PlatformModule.forRoot({
          service: 'otp',
          logger: deps.logger,
          apiKeys: c.apiKeys,
          redis: deps.redis,
          ...(deps.clock ? { clock: deps.clock } : {}),
          ...(deps.metrics ? { metrics: deps.metrics } : {}),
        }),
        BusModule.forRoot(deps.bus),
        OtpInfraModule.forRoot(deps),
      ],
      controllers: [VerificationsController, FactorsController, OtpBusHandlers, AccountsConsumer],
      providers: [
        {
          provide: SendGuard,
          useFactory: (
            pumping: RedisPumping,
            hasher: KeyedHasher,
            metrics: OtpMetrics,
            logger: Logger,
          ) => new SendGuard(pumping, hasher, c, metrics, logger),
          inject: [RedisPumping, KeyedHasher, OtpMetrics, PLATFORM_LOGGER],
        },
        {
          provide: Messenger,
          useFactory: (bus: EventPublisher) => new Messenger(bus, c.originHost),
          inject: [EVENT_PUBLISHER],
        },
        {
          provide: ChallengeService,
          useFactory: (
            store: RedisChallengeStore,
            guard: SendGuard,
            messenger: Messenger,
            events: EventPublisher,
            hasher: KeyedHasher,
            signals: AccountSignals,
            pumping: RedisPumping,
            clock: Clock,
            metrics: OtpMetrics,
            logger: Logger,
          ) =>
            new ChallengeService(
              store,
              guard,
              messenger,
              events,
              hasher,
              signals,
              pumping,
              clock,
              c,
              metrics,
              logger,
            ),
          inject: [
            RedisChallengeStore,
            SendGuard,
            Messenger,
            EVENT_PUBLISHER,
            KeyedHasher,
            AccountSignals,
            RedisPumping,
            Clock,
            OtpMetrics,
            PLATFORM_LOGGER,
          ],
        },
        {
          provide: KnownAccounts,
          useFactory: (ds: DataSource, bus: EventBus, clock: Clock, logger: Logger) =>
            new KnownAccounts(
              ds,
              new IdentityAccountLookup(bus, c.accountLookupTimeoutMs),
              clock,
              logger,
            ),
          inject: [DataSource, EventBus, Clock, PLATFORM_LOGGER],
        },
        {
          provide: FactorService,
          useFactory: (
            ds: DataSource,
            outbox: Outbox,
            box: SecretBox,
            hasher: KeyedHasher,
            gates: RedisGates,
            failures: AccountFailures,
            messenger: Messenger,
            clock: Clock,
            metrics: OtpMetrics,
            logger: Logger,
            accounts: KnownAccounts,
          ) =>
            new FactorService(
              ds,
              outbox,
              box,
              hasher,
              gates,
              failures,
              messenger,
              clock,
              c,
              metrics,
              logger,
              accounts,
            ),
          inject: [
            DataSource,
            Outbox,
            SecretBox,
            KeyedHasher,
            RedisGates,
            AccountFailures,
            Messenger,
            Clock,
            OtpMetrics,
            PLATFORM_LOGGER,
            KnownAccounts,
          ],
        },
        {
          provide: ExpirySweeper,
          useFactory: (challenges: ChallengeService, logger: Logger) =>
            new ExpirySweeper(challenges, c.sweepIntervalMs, logger),
          inject: [ChallengeService, PLATFORM_LOGGER],
        },
        OtpLifecycle,
      ],
    };
  }
}
