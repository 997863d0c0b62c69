import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Inject } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import { DomainError } from '../errors/domain-error';
import type { Logger } from '../logging/logger';
import { PLATFORM_LOGGER } from '../tokens';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  [extra: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  423: 'Locked',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Field errors of a zod failure in the API's `errors: [{field, code, message}]` shape. */
export function fieldErrors(error: ZodError): { field: string; code: string; message: string }[] {
  return error.issues.map((issue) => ({
    field: issue.path.join('.') || '(body)',
    code: issue.code,
    message: issue.message,
  }));
}

const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/**
 * PostgreSQL: connection exceptions (08…), shutting down / starting up (57P01–57P03), too many
 * connections, and a write to a server that is (now) a standby (25006: a failover in progress).
 */
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123]|53300|25006)$/;
const UNAVAILABLE_MESSAGES = [
  // 55000 with this text: the database refuses connections (ALLOW_CONNECTIONS false: maintenance,
  // a failover); other 55000s (object not in prerequisite state) are bugs.
  /is not currently accepting connections/,
  /timeout exceeded when trying to connect/, // pg-pool: no connection within connectionTimeoutMillis
  /^Connection terminated/, // pg: the server went away mid-query
  /Stream isn't writeable and enableOfflineQueue/, // ioredis: disconnected, no offline queue
  /^Connection is closed\.?$/, // ioredis
  /^Command timed out$/, // ioredis commandTimeout
];

/**
 * A dependency that is down or overloaded (refused or reset connection, no pooled connection in
 * time, Redis disconnected or timing out, PostgreSQL shutting down) rather than a bug: the caller
 * should retry, so it is a 503 with Retry-After, not a 500. Looks into TypeORM's `driverError`
 * and an error's `cause`.
 */
export function isUnavailableError(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 3) return false;
  const e = error as { code?: unknown; name?: unknown; message?: unknown; driverError?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && (UNAVAILABLE_ERRNO.has(e.code) || UNAVAILABLE_SQLSTATE.test(e.code))) return true;
  if (e.name === 'MaxRetriesPerRequestError') return true;
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.some((re) => re.test(e.message as string))) return true;
  return isUnavailableError(e.driverError, depth + 1) || isUnavailableError(e.cause, depth + 1);
}

/** Builds an RFC 9457 problem for any thrown value. */
export function toProblem(exception: unknown): Problem {
  if (exception instanceof DomainError) {
    return problem(exception.status, exception.code, exception.detail, exception.extra);
  }
  if (exception instanceof ZodError) {
    return problem(422, 'validation_failed', 'The request has invalid fields.', { errors: fieldErrors(exception) });
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const code =
      status === 404 ? 'not_found' : status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : status < 500 ? 'malformed_request' : 'internal_error';
    return problem(status, code, status < 500 ? exception.message : 'Something went wrong on our side.');
  }
  const fastifyStatus = (exception as { statusCode?: number })?.statusCode;
  if (typeof fastifyStatus === 'number' && fastifyStatus >= 400 && fastifyStatus < 500) {
    const code = fastifyStatus === 415 ? 'unsupported_media_type' : fastifyStatus === 413 ? 'payload_too_large' : 'malformed_request';
    return problem(fastifyStatus, code, 'The request could not be read: send a JSON body.');
  }
  if (isUnavailableError(exception)) {
    return problem(503, 'service_unavailable', 'A store this service needs is unavailable; try again shortly.', { retryAfter: 1 });
  }
  return problem(500, 'internal_error', 'Something went wrong on our side.');
}

function problem(status: number, code: string, detail: string, extra: Record<string, unknown> = {}): Problem {
  const { retryAfter: _retryAfter, ...rest } = extra;
  return {
    type: `https://phonegate.dev/problems/${code.replace(/_/g, '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    ...rest,
    ...(typeof _retryAfter === 'number' ? { retryAfter: Math.max(1, Math.ceil(_retryAfter)) } : {}),
  };
}

/** Maps every error to `application/problem+json`, with Retry-After on 429/503 when known. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(@Inject(PLATFORM_LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    const body = toProblem(exception);
    if (body.status >= 500) this.logger.error({ err: exception, path: request.routeOptions?.url }, 'request failed');
    const retryAfter = typeof body['retryAfter'] === 'number' ? body['retryAfter'] : undefined;
    if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
    else if (body.status === 429 || body.status === 503) void reply.header('retry-after', '1');
    void reply.status(body.status).header('content-type', 'application/problem+json').send(body);
  }
}
