import { createHash, createHmac } from 'node:crypto';
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

/** What a service tells the Idempotency-Key support about itself. */
export interface IdempotencyPolicy {
  /**
   * Key (at least 32 bytes, a secret of the service's own) of the HMAC-SHA256 that
   * fingerprints a request's body, so the store holds nothing a guess at the body (a
   * password, a code) can be checked against (C2). Without it the caller's credential
   * (its `Authorization` header) keys the HMAC, and an anonymous request is not kept.
   */
  fingerprintKey?: Buffer;
  /**
   * Routes, as declared (`/v1/sessions/:loginId/verify`), whose POSTs ignore the
   * header: their body or answer holds a secret (a code, a password, a token) that
   * the store would otherwise keep for a day.
   */
  skipRoutes?: readonly string[];
}

const policies = new WeakMap<FastifyInstance, IdempotencyPolicy>();

/**
 * Sets a Fastify instance's idempotency policy (a service's module calls it at
 * start, before the first request); read on every request.
 */
export function setIdempotencyPolicy(app: FastifyInstance, policy: IdempotencyPolicy): void {
  if (policy.fingerprintKey && policy.fingerprintKey.length < 32) {
    throw new Error('the Idempotency-Key fingerprint key needs at least 32 bytes');
  }
  policies.set(app, { ...policy, skipRoutes: [...(policy.skipRoutes ?? [])] });
}

/**
 * The fingerprint of a request's body: HMAC-SHA256 under the service's key, else
 * under the caller's credential; undefined when there is neither.
 */
export function requestFingerprint(body: unknown, policy: IdempotencyPolicy, credential: string): string | undefined {
  const key = policy.fingerprintKey ?? (credential ? Buffer.from(credential, 'utf8') : undefined);
  if (!key) return undefined;
  return createHmac('sha256', key).update(JSON.stringify(body ?? null)).digest('hex');
}

/**
 * `Idempotency-Key` for every POST: the first answer (2xx or 4xx) is kept for
 * `ttlSeconds` and replayed for a retry with the same key, caller and body; the
 * same key with another body is 409 `idempotency_conflict`; a retry while the
 * first is still running is 409 too. 5xx answers are not kept, so a retry runs.
 * The body is kept only as an HMAC (see IdempotencyPolicy); routes the policy
 * skips, and anonymous calls with no service key, run without it.
 */
export function registerIdempotency(app: FastifyInstance, redis: Redis, ttlSeconds = 86_400, policy?: IdempotencyPolicy): void {
  if (policy) setIdempotencyPolicy(app, policy);
  // Callback-style hooks: a request without the header (nearly all) costs no promise here.
  app.addHook('preHandler', (request: Marked, reply: FastifyReply, done: (error?: Error) => void) => {
    if (request.method !== 'POST') return done();
    const key = request.headers['idempotency-key'];
    if (typeof key !== 'string' || key.length === 0) return done();
    claim(app, redis, request, reply, key).then(
      (answered) => {
        if (!answered) done();
      },
      (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
    );
  });

  app.addHook('onSend', (request: Marked, reply: FastifyReply, payload: unknown, done: (error: Error | null, payload?: unknown) => void) => {
    if (!request.idempotencyKey) return done(null, payload);
    const storeKey = request.idempotencyKey;
    request.idempotencyKey = undefined;
    void keep(redis, storeKey, request, reply, payload, ttlSeconds).then(() => done(null, payload));
  });
}

/**
 * Claims the key for this request, or answers it (replay, conflict, malformed, store down);
 * true when it answered.
 */
async function claim(app: FastifyInstance, redis: Redis, request: Marked, reply: FastifyReply, key: string): Promise<boolean> {
  const current = policies.get(app) ?? {};
  if (current.skipRoutes?.includes(request.routeOptions.url ?? '')) return false;
  if (key.length > 200) return answered(sendProblem(reply, 'malformed_request', 'Idempotency-Key is at most 200 characters.'));
  const credential = String(request.headers.authorization ?? '');
  const fingerprint = requestFingerprint(request.body, current, credential);
  if (fingerprint === undefined) return false;
  const caller = createHash('sha256').update(credential).digest('hex').slice(0, 16);
  const storeKey = `idem:http:${caller}:${request.method}:${request.url}:${key}`;
  const pending: Stored = { state: 'pending', fingerprint };
  let claimed: string | null;
  let raw: string | null = null;
  try {
    claimed = await redis.set(storeKey, JSON.stringify(pending), 'EX', 120, 'NX');
    if (claimed !== 'OK') raw = await redis.get(storeKey);
  } catch {
    // Without the store a retry could run twice: refuse clearly instead (R1).
    return answered(sendProblem(reply, 'service_unavailable', 'Idempotency store unavailable; retry shortly.'));
  }
  if (claimed === 'OK') {
    request.idempotencyKey = storeKey;
    request.idempotencyFingerprint = fingerprint;
    return false;
  }
  const stored = raw ? (JSON.parse(raw) as Stored) : undefined;
  if (!stored) return false; // expired in between: run it
  if (stored.fingerprint !== fingerprint) {
    return answered(sendProblem(reply, 'idempotency_conflict', 'This Idempotency-Key was used with another request body.'));
  }
  if (stored.state === 'pending') {
    return answered(sendProblem(reply, 'idempotency_conflict', 'A request with this Idempotency-Key is still in progress.'));
  }
  void reply.header('idempotent-replayed', 'true');
  void reply.status(stored.status ?? 200);
  if (stored.contentType) void reply.header('content-type', stored.contentType);
  return answered(reply.send(stored.payload ?? ''));
}

/** Keeps the answer for retries (a 5xx is not kept: the claim is released so a retry runs). */
async function keep(redis: Redis, storeKey: string, request: Marked, reply: FastifyReply, payload: unknown, ttlSeconds: number): Promise<void> {
  if (reply.statusCode >= 500) {
    await redis.del(storeKey).catch(() => undefined);
    return;
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
}

function answered(_reply: FastifyReply): true {
  return true;
}

function sendProblem(reply: FastifyReply, code: 'idempotency_conflict' | 'malformed_request' | 'service_unavailable', detail: string) {
  const body = toProblem(new DomainError(code, detail));
  if (body.status === 503) void reply.header('retry-after', '1');
  return reply.status(body.status).header('content-type', 'application/problem+json').send(body);
}
