/**
 * The floor for the handoff bench: a bare Fastify route doing the same Redis
 * work as a handoff (HMAC of the submitted code under each key, then the one
 * atomic Lua check) without Nest, auth, idempotency, PostgreSQL or the outbox.
 * Env: PORT, REDIS_URL, REDIS_KEY_PREFIX, CODE_HMAC_KEYS (kid:base64,...).
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { createRedis, redisReady } from '@phonegate/platform';
import { RedisCodeStore } from '../../services/delivery-otp/src/codes/redis-code.store';
import { candidateDigests } from '../../services/delivery-otp/src/handoff/handoff-code';

async function main(): Promise<void> {
  const env = process.env;
  const keys = new Map<string, Buffer>(
    (env['CODE_HMAC_KEYS'] ?? '').split(',').filter(Boolean).map((p) => [p.slice(0, p.indexOf(':')), Buffer.from(p.slice(p.indexOf(':') + 1), 'base64')]),
  );
  const keyring = { activeKeyId: keys.keys().next().value as string, keys };
  const redis = createRedis({ url: env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', keyPrefix: env['REDIS_KEY_PREFIX'] ?? 'floor:' });
  await redisReady(redis);
  const store = new RedisCodeStore(redis);
  const app = Fastify({ logger: false });
  app.post<{ Params: { id: string }; Body: { code: string; at: string } }>('/floor/:id', async (request) => {
    const now = Date.now();
    const result = await store.check({
      shipmentId: request.params.id,
      courierId: request.headers['x-courier'] as string,
      deviceId: 'dev_floor',
      nowMs: now,
      atMs: Date.parse(request.body.at),
      toleranceMs: 120_000,
      maxAttempts: 5,
      attemptId: randomUUID(),
      candidates: candidateDigests(keyring, request.params.id, request.body.code),
    });
    return { verdict: result.verdict, at: request.body.at };
  });
  await app.listen({ port: Number(env['PORT'] ?? 0), host: '127.0.0.1' });
  process.on('SIGTERM', () => void app.close().then(() => redis.quit()).then(() => process.exit(0)));
}

void main();
