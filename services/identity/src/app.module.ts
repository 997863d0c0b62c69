import { type DynamicModule, Inject, Injectable, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Bus, BusModule, type BusOptions, EventBus, Outbox } from '@phonegate/messaging';
import { Clock, HealthRegistry, type Logger, MetricsService, PlatformModule, fingerprintKeysFrom, setIdempotencyPolicy } from '@phonegate/platform';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { AccountsBusHandlers } from './accounts/accounts-bus.handlers';
import { AccountsController } from './accounts/accounts.controller';
import { AccountsService } from './accounts/accounts.service';
import type { IdentityConfig } from './config/identity.config';
import { type DatabaseOptions, DatabaseModule } from './database.module';
import { BusOtpGateway } from './otp/bus-otp.gateway';
import type { OtpGateway } from './otp/otp.gateway';
import { PasswordResetsController } from './password-resets/password-resets.controller';
import { PasswordResetService } from './password-resets/password-reset.service';
import { PhonesController } from './phones/phones.controller';
import { PhonesService } from './phones/phones.service';
import { CodeAccounting } from './security/code-accounting';
import { Argon2PasswordHasher, type PasswordHasher } from './security/password-hasher';
import { DevicesService } from './sessions/devices.service';
import { SessionIssuer } from './sessions/session-issuer';
import { SessionTokenService } from './sessions/session-token.service';
import { DevicesController, JwksController, SessionsController } from './sessions/sessions.controller';
import { SignInService } from './sessions/sign-in.service';
import { EVENT_OUTBOX, IDENTITY_CONFIG, IDENTITY_REDIS, OTP_GATEWAY, PASSWORD_HASHER } from './tokens';
import { TwoStepController } from './two-step/two-step.controller';
import { TwoStepService } from './two-step/two-step.service';

/**
 * Everything the identity service is given rather than makes, so a test or
 * the embedded one-process mode can pass stand-ins.
 */
export interface IdentityDeps {
  config: IdentityConfig;
  logger: Logger;
  redis: Redis;
  /** Connection options, or a DataSource built by the caller (shared with a bus built there). */
  database: DatabaseOptions | DataSource;
  /** Bus options (the outbox relay is added here), or a bus built elsewhere. */
  bus: Omit<BusOptions, 'outbox'> | { bus: Bus };
  metrics?: MetricsService;
  clock?: Clock;
  /** Ports tests may replace. */
  passwordHasher?: PasswordHasher;
  otp?: OtpGateway;
}

/**
 * The key of the Idempotency-Key fingerprints (an HMAC of each request's body):
 * derived from identity's active session-signing key, a secret only identity holds,
 * so a dump of Redis gives nothing to test a guessed password or code against.
 */
export function idempotencyFingerprintKey(config: Pick<IdentityConfig, 'JWT_KEYS' | 'JWT_ACTIVE_KEY_ID'>): Buffer {
  return idempotencyKeys(config).fingerprintKey as Buffer;
}

/** The active signing key's fingerprint key for new entries, the other signing keys' to find entries stored before a rotation. */
export function idempotencyKeys(config: Pick<IdentityConfig, 'JWT_KEYS' | 'JWT_ACTIVE_KEY_ID'>) {
  const activeKeyId = config.JWT_ACTIVE_KEY_ID ?? config.JWT_KEYS.activeKeyId;
  if (!config.JWT_KEYS.keys.has(activeKeyId)) throw new Error('JWT_ACTIVE_KEY_ID is not a key id of JWT_KEYS');
  return fingerprintKeysFrom({ activeKeyId, keys: config.JWT_KEYS.keys }, 'identity');
}

/** Readiness checks, the Idempotency-Key policy, and the order of shutdown: the bus (and its outbox relay) before the database. */
@Injectable()
class IdentityLifecycle implements OnModuleInit, OnApplicationShutdown {
  constructor(
    private readonly db: DataSource,
    private readonly bus: Bus,
    private readonly health: HealthRegistry,
    @Inject(IDENTITY_REDIS) private readonly redis: Redis,
    @Inject(IDENTITY_CONFIG) private readonly config: IdentityConfig,
    private readonly http: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const fastify = this.http.httpAdapter?.getInstance<FastifyInstance>();
    if (fastify) {
      // Every POST keeps the header (API.md): a kept answer (a session token among them) is
      // sealed under a key derived from the client's Idempotency-Key, which is never stored.
      setIdempotencyPolicy(fastify, idempotencyKeys(this.config));
    }
    this.health.register({ name: 'postgres', check: async () => void (await this.db.query('SELECT 1')) });
    this.health.register({ name: 'redis', check: async () => void (await this.redis.ping()) });
    this.health.register({
      name: 'rabbitmq',
      check: async () => {
        if (!this.bus.isHealthy()) throw new Error('not connected');
      },
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
    if (this.db.isInitialized) await this.db.destroy();
  }
}

@Module({})
export class IdentityAppModule {
  static forRoot(deps: IdentityDeps): DynamicModule {
    const { config } = deps;
    const metrics = deps.metrics ?? new MetricsService('identity');
    return {
      module: IdentityAppModule,
      imports: [
        PlatformModule.forRoot({
          service: 'identity',
          logger: deps.logger,
          apiKeys: config.API_KEYS,
          redis: deps.redis,
          metrics,
          ...(deps.clock ? { clock: deps.clock } : {}),
        }),
        DatabaseModule.forRoot(deps.database),
        BusModule.forRootAsync({
          inject: [DataSource],
          useFactory: (dataSource: DataSource) =>
            'bus' in deps.bus ? deps.bus : { metrics: metrics.registry, ...deps.bus, outbox: { dataSource } },
        }),
      ],
      controllers: [
        AccountsController,
        PhonesController,
        TwoStepController,
        SessionsController,
        DevicesController,
        JwksController,
        PasswordResetsController,
        // Bus commands: served once the bus's server is connected as a microservice (service.ts).
        AccountsBusHandlers,
      ],
      providers: [
        { provide: IDENTITY_CONFIG, useValue: config },
        { provide: IDENTITY_REDIS, useValue: deps.redis },
        {
          provide: PASSWORD_HASHER,
          useValue:
            deps.passwordHasher ??
            new Argon2PasswordHasher({
              memoryKib: config.IDENTITY_ARGON2_MEMORY_KIB,
              timeCost: config.IDENTITY_ARGON2_TIME_COST,
              parallelism: config.IDENTITY_ARGON2_PARALLELISM,
            }),
        },
        deps.otp
          ? { provide: OTP_GATEWAY, useValue: deps.otp }
          : { provide: OTP_GATEWAY, useFactory: (bus: EventBus) => new BusOtpGateway(bus, config.IDENTITY_OTP_TIMEOUT), inject: [EventBus] },
        { provide: EVENT_OUTBOX, useExisting: Outbox },
        {
          provide: SessionTokenService,
          useValue: new SessionTokenService(config.JWT_KEYS, config.JWT_ACTIVE_KEY_ID, {
            issuer: config.IDENTITY_JWT_ISSUER,
            audience: config.IDENTITY_JWT_AUDIENCE,
            ttlMs: config.IDENTITY_SESSION_TTL,
          }),
        },
        AccountsService,
        PhonesService,
        TwoStepService,
        CodeAccounting,
        SessionIssuer,
        SignInService,
        DevicesService,
        PasswordResetService,
        IdentityLifecycle,
      ],
    };
  }
}
