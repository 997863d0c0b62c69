import { createHash, createHmac, randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { registerIdempotency, setIdempotencyPolicy } from '../../src';
import { dropRedisPrefix, redisPrefix, TEST_INFRA } from '../../src/testing';

/**
 * The Idempotency-Key store on real Redis: it replays and refuses as before, but
 * keeps a request's body only as an HMAC (never a plain SHA-256 a guess can be
 * checked against) and keeps nothing for the routes a service marks secret.
 */
describe('Idempotency-Key store', () => {
  const prefix = redisPrefix();
  const redis = new Redis(TEST_INFRA.redisUrl, { keyPrefix: prefix, lazyConnect: true });
  const raw = new Redis(TEST_INFRA.redisUrl, { lazyConnect: true });
  const serviceKey = randomBytes(32);
  const auth = { authorization: 'Bearer sf-key' };
  let calls = 0;

  /** A bare Fastify with the store and two routes: one ordinary, one that answers a token. */
  async function server(
    policy?: Parameters<typeof setIdempotencyPolicy>[1],
  ): Promise<FastifyInstance> {
    const app = Fastify();
    registerIdempotency(app, redis, 86_400, policy);
    app.post('/v1/things', async (_request, reply) =>
      reply.status(201).send({ id: `thing-${++calls}` }),
    );
    app.post('/v1/sessions/:loginId/verify', async (_request, reply) =>
      reply.status(201).send({ sessionToken: `token-${randomBytes(8).toString('hex')}` }),
    );
    await app.ready();
    return app;
  }

  /** Every key and value this file's store holds, as one text. */
  async function stored(): Promise<string> {
    const keys = await raw.keys(`${prefix}*`);
    const values = await Promise.all(keys.map((k) => raw.get(k)));
    return keys.map((k, i) => `${k} ${values[i] ?? ''}`).join('\n');
  }

  const sha256 = (body: unknown) => createHash('sha256').update(JSON.stringify(body)).digest('hex');

  beforeAll(async () => {
    await Promise.all([redis.connect(), raw.connect()]);
  });

  afterAll(async () => {
    await redis.quit();
    await raw.quit();
    await dropRedisPrefix(prefix);
  });

  it('keeps an HMAC under the service key, not a SHA-256 of the body; replays and refuses another body as before', async () => {
    const app = await server({ fingerprintKey: serviceKey });
    const body = { email: 'a@example.com', password: `pw-${randomBytes(6).toString('hex')}` };
    const headers = { ...auth, 'idempotency-key': 'k-hmac' };
    const first = await app.inject({ method: 'POST', url: '/v1/things', headers, payload: body });
    const again = await app.inject({ method: 'POST', url: '/v1/things', headers, payload: body });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.json()).toEqual(first.json());
    expect(again.headers['idempotent-replayed']).toBe('true');
    const other = await app.inject({
      method: 'POST',
      url: '/v1/things',
      headers,
      payload: { ...body, password: 'other' },
    });
    expect(other.statusCode).toBe(409);

    const text = await stored();
    expect(text).toContain(
      createHmac('sha256', serviceKey).update(JSON.stringify(body)).digest('hex'),
    );
    expect(text).not.toContain(sha256(body));
    expect(text).not.toContain(body.password);
    await app.close();
  });

  it('without a service key, keys the HMAC with the caller credential; an anonymous call is not kept', async () => {
    const app = await server();
    const body = { code: '123456' };
    const headers = { ...auth, 'idempotency-key': 'k-caller' };
    const first = await app.inject({ method: 'POST', url: '/v1/things', headers, payload: body });
    const again = await app.inject({ method: 'POST', url: '/v1/things', headers, payload: body });
    expect(again.json()).toEqual(first.json());
    const text = await stored();
    expect(text).toContain(
      createHmac('sha256', auth.authorization).update(JSON.stringify(body)).digest('hex'),
    );
    expect(text).not.toContain(sha256(body));

    const anonymous = { 'idempotency-key': 'k-anonymous' };
    const a1 = await app.inject({
      method: 'POST',
      url: '/v1/things',
      headers: anonymous,
      payload: body,
    });
    const a2 = await app.inject({
      method: 'POST',
      url: '/v1/things',
      headers: anonymous,
      payload: body,
    });
    expect(a2.json()).not.toEqual(a1.json());
    expect(await stored()).not.toContain('k-anonymous');
    await app.close();
  });

  it('ignores the header on the routes the policy skips: the answer (a token) is never stored, a retry runs again', async () => {
    const app = await server({
      fingerprintKey: serviceKey,
      skipRoutes: ['/v1/sessions/:loginId/verify'],
    });
    const headers = { ...auth, 'idempotency-key': 'k-secret' };
    const body = { code: '654321' };
    const first = await app.inject({
      method: 'POST',
      url: '/v1/sessions/l-1/verify',
      headers,
      payload: body,
    });
    const again = await app.inject({
      method: 'POST',
      url: '/v1/sessions/l-1/verify',
      headers,
      payload: body,
    });
    expect(first.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(again.json().sessionToken).not.toBe(first.json().sessionToken);
    const text = await stored();
    expect(text).not.toContain('k-secret');
    expect(text).not.toContain(first.json().sessionToken);
    // The other routes keep the header.
    const h2 = { ...auth, 'idempotency-key': 'k-kept' };
    const t1 = await app.inject({ method: 'POST', url: '/v1/things', headers: h2, payload: {} });
    const t2 = await app.inject({ method: 'POST', url: '/v1/things', headers: h2, payload: {} });
    expect(t2.json()).toEqual(t1.json());
    await app.close();
  });

  it('refuses a fingerprint key shorter than 32 bytes', () => {
    expect(() => setIdempotencyPolicy(Fastify(), { fingerprintKey: randomBytes(16) })).toThrow(
      /32 bytes/,
    );
  });
});
