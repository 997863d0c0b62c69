import { type DynamicModule, Global, Module, type Provider } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { LoggerModule } from 'nestjs-pino';
import type { Redis } from 'ioredis';
import { API_KEYS, ApiKeyGuard, type ConfiguredKey } from './auth/api-key.guard';
import { Clock } from './clock';
import { HealthController } from './health/health.controller';
import { type HealthCheck, HealthRegistry } from './health/health.registry';
import { ProblemFilter } from './http/problem.filter';
import type { Logger } from './logging/logger';
import { MetricsService } from './metrics/metrics.service';
import { PLATFORM_LOGGER, PLATFORM_OPTIONS, PLATFORM_REDIS } from './tokens';

export interface PlatformOptions {
  service: string;
  logger: Logger;
  apiKeys: ConfiguredKey[];
  /** Log one line per HTTP request (info; default on); health and metrics are never logged. */
  logRequests?: boolean;
  redis?: Redis;
  checks?: HealthCheck[];
  metrics?: MetricsService;
  clock?: Clock;
}

/**
 * What every service gets the same way: the logger, metrics and health routes,
 * problem+json errors, API-key auth with scopes, and a clock.
 */
@Global()
@Module({})
export class PlatformModule {
  static forRoot(options: PlatformOptions): DynamicModule {
    const metrics = options.metrics ?? new MetricsService(options.service);
    const registry = new HealthRegistry();
    for (const check of options.checks ?? []) registry.register(check);
    const providers: Provider[] = [
      { provide: PLATFORM_OPTIONS, useValue: options },
      { provide: PLATFORM_LOGGER, useValue: options.logger },
      { provide: MetricsService, useValue: metrics },
      { provide: HealthRegistry, useValue: registry },
      { provide: Clock, useValue: options.clock ?? new Clock() },
      { provide: API_KEYS, useValue: options.apiKeys },
      // One guard instance, also reachable by its class: the Idempotency-Key store asks it which
      // credentials the service accepts (bootstrap.ts).
      ApiKeyGuard,
      { provide: APP_GUARD, useExisting: ApiKeyGuard },
      { provide: APP_FILTER, useClass: ProblemFilter },
    ];
    if (options.redis) providers.push({ provide: PLATFORM_REDIS, useValue: options.redis });
    return {
      module: PlatformModule,
      imports: [
        TerminusModule.forRoot({ logger: false }),
        // nestjs-pino gives Nest its logger. Its per-request pino-http middleware is not mounted
        // (`forRoutes: []`): the logger already carries the request ids (mixin), and the access
        // line is one Fastify hook in bootstrap.ts — the middleware cost ~6 % of a request's CPU.
        LoggerModule.forRoot({ pinoHttp: { logger: options.logger }, forRoutes: [] }),
      ],
      controllers: [HealthController],
      providers,
      exports: providers.filter((p) => typeof p === 'object' && 'provide' in p && p.provide !== APP_GUARD && p.provide !== APP_FILTER),
    };
  }
}
