import { randomUUID } from 'node:crypto';
import type { INestApplication, Type, DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { CustomTransportStrategy } from '@nestjs/microservices';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { Logger as NestPinoLogger } from 'nestjs-pino';
import { ConfigError } from './config/config';
import { requestContext } from './context/request-context';
import { HealthRegistry } from './health/health.registry';
import { registerIdempotency, setIdempotencyPolicy } from './http/idempotency';
import { refuseOtherBodyTypes } from './http/body-types';
import { jsonBodyParser, refuseNulInParameters } from './http/json-body';
import { toProblem } from './http/problem.filter';
import { DomainError } from './errors/domain-error';
import { API_KEYS, ApiKeyGuard, type ConfiguredKey, namedClientLookup } from './auth/api-key.guard';
import { createLogger, type Logger } from './logging/logger';
import { MetricsService } from './metrics/metrics.service';
import type { PlatformOptions } from './platform.module';
import { PLATFORM_OPTIONS } from './tokens';

const QUIET_ROUTE = /^\/(health|metrics)/;

export interface ServiceBootstrap {
  name: string;
  module: Type | DynamicModule;
  port: number;
  host?: string;
  logger: Logger;
  /** Enables Idempotency-Key on every POST. */
  redis?: Redis;
  /** Bus servers (RabbitMqServer) to connect; started before HTTP listens. */
  microservices?: CustomTransportStrategy[];
  swagger?: { title: string; description: string };
  /** Called last on shutdown, after HTTP and the bus have drained. */
  onShutdown?: () => Promise<void>;
  /** Longest a graceful shutdown may take before the process exits anyway. */
  shutdownTimeoutMs?: number;
  /**
   * Install SIGTERM/SIGINT handlers that drain and exit (default true). The
   * embedded mode runs several services in one process and handles signals
   * itself.
   */
  handleSignals?: boolean;
}

/**
 * Creates, wires and starts a service: Fastify, request ids and context,
 * HTTP metrics, Idempotency-Key, OpenAPI at /docs, the bus, and a graceful
 * SIGTERM (readiness fails, HTTP stops accepting and finishes in-flight
 * requests, consumers stop and finish in-flight messages, then connections close).
 */
export async function bootstrapService(options: ServiceBootstrap): Promise<NestFastifyApplication> {
  const app = await createServiceApp(options);
  await app.startAllMicroservices();
  await app.listen({ port: options.port, host: options.host ?? '0.0.0.0' });
  if (options.handleSignals !== false) installShutdown(app, options);
  options.logger.info({ port: options.port }, `${options.name} listening`);
  return app;
}

/** Everything bootstrapService does but listening and signals (tests use it). */
export async function createServiceApp(
  options: Omit<ServiceBootstrap, 'port'>,
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    trustProxy: true,
    bodyLimit: 64 * 1024,
    requestIdHeader: 'x-request-id',
    // The onRequest hook below builds the one request context; the id here is
    // only Fastify's fallback when no x-request-id came in.
    genReqId: () => randomUUID(),
    // Path ids the services take are at most 200 characters (a device id); a longer segment
    // cannot name anything, and is answered (frameworkErrors) as problem+json like any 404.
    routerOptions: { maxParamLength: 256 },
    frameworkErrors: (
      error: Error & { code?: string },
      request: FastifyRequest,
      reply: FastifyReply,
    ) => frameworkProblem(error, request, reply),
  });
  const app = await NestFactory.create<NestFastifyApplication>(options.module, adapter, {
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(NestPinoLogger));
  const fastify = app.getHttpAdapter().getInstance();
  // Nest's own JSON parser but for the answer to a forbidden key (see jsonBodyParser).
  app.useBodyParser(
    'application/json',
    { bodyLimit: fastify.initialConfig.bodyLimit },
    jsonBodyParser(fastify),
  );
  // JSON in and out: a form-encoded or text/plain body only where a route declares it (AcceptsBodies).
  fastify.addHook('preValidation', refuseOtherBodyTypes);
  fastify.addHook('preValidation', refuseNulInParameters);

  fastify.addHook('onRequest', (request, reply, done) => {
    const header = (name: string) => {
      const v = request.headers[name];
      return typeof v === 'string' ? v : undefined;
    };
    const ctx = requestContext.from({
      requestId: header('x-request-id') ?? String(request.id),
      correlationId: header('x-correlation-id'),
      traceparent: header('traceparent'),
    });
    void reply.header('x-request-id', ctx.requestId);
    requestContext.run(ctx, done);
  });

  const metrics = app.get(MetricsService);
  const duration = metrics.histogram('http_request_duration_seconds', 'HTTP request duration', [
    'method',
    'route',
    'status',
  ]);
  const timers = new Map<string, (seconds: number) => void>();
  const logRequests = platformOptions(app)?.logRequests !== false;
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions?.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    // One labelled child per method, route and status, looked up by a string (prom-client
    // hashes the label object on every observe otherwise).
    const series = `${request.method} ${route} ${reply.statusCode}`;
    let observe = timers.get(series);
    if (!observe) {
      const child = duration.labels({
        method: request.method,
        route,
        status: String(reply.statusCode),
      });
      observe = (value: number) => child.observe(value);
      timers.set(series, observe);
    }
    observe(seconds);
    // The access line: the route's pattern, never the raw URL (ids yes, a number in a query no).
    if (logRequests && !QUIET_ROUTE.test(route)) {
      options.logger[reply.statusCode >= 500 ? 'error' : 'info'](
        {
          http: { method: request.method, route, statusCode: reply.statusCode },
          responseTime: Math.round(reply.elapsedTime),
        },
        'request completed',
      );
    }
    done();
  });

  if (options.redis) {
    registerIdempotency(fastify, options.redis);
    const keys = configuredKeys(app);
    const callerOf = namedClientLookup(keys);
    if (callerOf) setIdempotencyPolicy(fastify, { callerOf });
    const guard = platformOptions(app) ? apiKeyGuard(app) : undefined;
    if (guard) setIdempotencyPolicy(fastify, { knows: (credential) => guard.knows(credential) });
  }

  if (options.swagger) {
    const doc = SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle(options.swagger.title)
        .setDescription(options.swagger.description)
        .setVersion('1')
        .addBearerAuth()
        .build(),
    );
    SwaggerModule.setup('docs', app, doc, { jsonDocumentUrl: 'docs-json' });
  }

  for (const strategy of options.microservices ?? [])
    app.connectMicroservice({ strategy }, { inheritAppConfig: true });
  return app;
}

function platformOptions(app: INestApplication): PlatformOptions | undefined {
  try {
    return app.get<PlatformOptions>(PLATFORM_OPTIONS, { strict: false });
  } catch {
    return undefined; // a module without PlatformModule (some tests): defaults
  }
}

function installShutdown(app: INestApplication, options: ServiceBootstrap): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    options.logger.info({ signal }, 'shutting down');
    app.get(HealthRegistry).markDraining();
    const timer = setTimeout(() => {
      options.logger.error('shutdown timed out; exiting');
      process.exit(1);
    }, options.shutdownTimeoutMs ?? 25_000);
    timer.unref();
    try {
      await app.close();
      await options.onShutdown?.();
      options.logger.info('stopped');
      options.logger.flush?.();
      process.exit(0);
    } catch (error) {
      options.logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

/**
 * Runs a service's start function; a bad configuration ends the process with
 * exit code 1 and one line naming the variable(s).
 */
export function runService(name: string, start: () => Promise<unknown>): void {
  start().catch((error: unknown) => {
    const logger = createLogger({ service: name });
    if (error instanceof ConfigError) {
      logger.fatal({ problems: error.problems }, error.message);
    } else {
      logger.fatal({ err: error }, 'failed to start');
    }
    logger.flush?.();
    setTimeout(() => process.exit(1), 50);
  });
}

/** The app's configured API keys (PlatformModule's `apiKeys`); none when the app has no PlatformModule. */
/** The platform's API-key guard (PlatformModule), which knows the credentials the service accepts. */
function apiKeyGuard(app: INestApplication): ApiKeyGuard | undefined {
  try {
    return app.get(ApiKeyGuard, { strict: false });
  } catch {
    return undefined;
  }
}

function configuredKeys(app: INestApplication): ConfiguredKey[] {
  try {
    return app.get<ConfiguredKey[]>(API_KEYS, { strict: false }) ?? [];
  } catch {
    return [];
  }
}

/**
 * Errors Fastify meets before a route runs (a path segment over `maxParamLength`, a URL that
 * does not decode): the same problem+json, with a request id, as every other error, never
 * Fastify's own JSON that echoes the path.
 */
function frameworkProblem(
  error: { code?: string },
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const problem = toProblem(
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? new DomainError(
          'not_found',
          'Nothing is found at this path (an id is at most 256 characters).',
        )
      : new DomainError('malformed_request', 'The request URL is malformed.'),
  );
  const given = request.headers['x-request-id'];
  const ctx = requestContext.from({
    requestId: typeof given === 'string' ? given : String(request.id),
  });
  void reply
    .status(problem.status)
    .header('x-request-id', ctx.requestId)
    .header('content-type', 'application/problem+json')
    .send(problem);
}
