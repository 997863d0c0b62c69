import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { DomainError } from '../errors/domain-error';
import { toProblem } from './problem.filter';

interface Stored {
  state: 'pending' | 'done';
  fingerprint: string;
  status?: number;
  contentType?: string;
  payload?: string;
}

type Marked = FastifyRequest & { idempotencyKey?: string; idempotencyFingerprint?: string };

/**
 * `Idempotency-Key` for every POST: the first answer (2xx or 4xx) is kept for
 * `ttlSeconds` and replayed for a retry with the same key, caller and body; the
 * same key with another body is 409 `idempotency_conflict`; a retry while the
 * first is still running is 409 too. 5xx answers are not kept, so a retry runs.
 */
export function registerIdempotency(app: FastifyInstance, redis: Redis, ttlSeconds = 86_400): void {
  app.addHook('preHandler', async (request: Marked, reply: FastifyReply) => {
    if (request.method !== 'POST') return;
    const key = request.headers['idempotency-key'];
    if (typeof key !== 'string' || key.length === 0) return;
    if (key.length > 200) return sendProblem(reply, 'malformed_request', 'Idempotency-Key is at most 200 characters.');
    const caller = createHash('sha256').update(String(request.headers.authorization ?? '')).digest('hex').slice(0, 16);
    const storeKey = `idem:http:${caller}:${request.method}:${request.url}:${key}`;
    const fingerprint = createHash('sha256').update(JSON.stringify(request.body ?? null)).digest('hex');
    const pending: Stored = { state: 'pending', fingerprint };
    let claimed: string | null;
    let raw: string | null = null;
    try {
      claimed = await redis.set(storeKey, JSON.stringify(pending), 'EX', 120, 'NX');
      if (claimed !== 'OK') raw = await redis.get(storeKey);
    } catch {
      // Without the store a retry could run twice: refuse clearly instead (R1).
      return sendProblem(reply, 'service_unavailable', 'Idempotency store unavailable; retry shortly.');
    }
    if (claimed === 'OK') {
      request.idempotencyKey = storeKey;
      request.idempotencyFingerprint = fingerprint;
      return;
    }
    const stored = raw ? (JSON.parse(raw) as Stored) : undefined;
    if (!stored) return; // expired in between: run it
    if (stored.fingerprint !== fingerprint) {
      return sendProblem(reply, 'idempotency_conflict', 'This Idempotency-Key was used with another request body.');
    }
    if (stored.state === 'pending') {
      return sendProblem(reply, 'idempotency_conflict', 'A request with this Idempotency-Key is still in progress.');
    }
    void reply.header('idempotent-replayed', 'true');
    void reply.status(stored.status ?? 200);
    if (stored.contentType) void reply.header('content-type', stored.contentType);
    return reply.send(stored.payload ?? '');
  });

  app.addHook('onSend', async (request: Marked, reply: FastifyReply, payload: unknown) => {
    if (!request.idempotencyKey) return payload;
    const storeKey = request.idempotencyKey;
    request.idempotencyKey = undefined;
    if (reply.statusCode >= 500) {
      await redis.del(storeKey).catch(() => undefined);
      return payload;
    }
    const stored: Stored = {
      state: 'done',
      fingerprint: request.idempotencyFingerprint ?? '',
      status: reply.statusCode,
      contentType: String(reply.getHeader('content-type') ?? 'application/json'),
      payload: typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '',
    };
    // If this write fails the pending claim expires and a retry runs again.
    await redis.set(storeKey, JSON.stringify(stored), 'EX', ttlSeconds).catch(() => undefined);
    return payload;
  });
}

function sendProblem(reply: FastifyReply, code: 'idempotency_conflict' | 'malformed_request' | 'service_unavailable', detail: string) {
  const body = toProblem(new DomainError(code, detail));
  if (body.status === 503) void reply.header('retry-after', '1');
  return reply.status(body.status).header('content-type', 'application/problem+json').send(body);
}
