import { createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import {
  idempotencyStoreKey,
  namedClientLookup,
  parseApiKeys,
  registerIdempotency,
  setIdempotencyPolicy,
} from '../../src';
import { dropRedisPrefix, redisPrefix, TEST_INFRA } from '../../src/testing';

/**
 * The Idempotency-Key store on real Redis: it replays and refuses as before, but
 * keeps a request's body only as an HMAC (never a plain SHA-256 a guess can be
 * checked against), the Idempotency-Key only inside an HMAC, and every answer
 * sealed under a key only the client's Idempotency-Key gives.
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

  /** A POST with an empty body, the file's caller and an Idempotency-Key. */
  const postEmpty = (app: FastifyInstance, url: string, idem: string) =>
    app.inject({ method: 'POST', url, headers: { ...auth, 'idempotency-key': idem }, payload: {} });

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

  it('keeps nothing for a call the service cannot tell who made: no credential, or one it does not accept', async () => {
    // An anonymous caller, or one with a key the service does not know, could otherwise leave an
    // entry in Redis for each Idempotency-Key it makes up, for a day each: Redis fills up.
    const app = Fastify();
    registerIdempotency(app, redis, 86_400, {
      fingerprintKey: serviceKey,
      knows: (credential) => credential === auth.authorization,
    });
    app.post('/v1/guarded', async (request, reply) =>
      request.headers.authorization === auth.authorization
        ? reply.status(201).send({ id: `guarded-${++calls}` })
        : reply.status(401).send({ code: 'unauthorized' }),
    );
    // A 401 the route itself gives a known caller (a sign-in's wrong password) is kept like any 4xx.
    app.post('/v1/sign-in', async (_request, reply) =>
      reply.status(401).send({ code: 'invalid_credentials', n: ++calls }),
    );
    app.post('/v1/public', async (_request, reply) =>
      reply.status(200).send({ id: `public-${++calls}` }),
    );
    await app.ready();
    const before = (await raw.keys(`${prefix}*`)).length;
    for (let i = 0; i < 5; i++) {
      const idem = `k-made-up-${i}`;
      const wrong = await app.inject({
        method: 'POST',
        url: '/v1/guarded',
        headers: { authorization: 'Bearer nope', 'idempotency-key': idem },
        payload: {},
      });
      expect(wrong.statusCode).toBe(401);
      const none = await app.inject({
        method: 'POST',
        url: '/v1/guarded',
        headers: { 'idempotency-key': idem },
        payload: {},
      });
      expect(none.statusCode).toBe(401);
      const open = await app.inject({
        method: 'POST',
        url: '/v1/public',
        headers: { 'idempotency-key': idem },
        payload: {},
      });
      expect(open.statusCode).toBe(200);
      expect(open.headers['idempotent-replayed']).toBeUndefined();
    }
    expect((await raw.keys(`${prefix}*`)).length).toBe(before);
    // A known caller's answer is still kept and replayed.
    const headers = { ...auth, 'idempotency-key': 'k-known' };
    const first = await app.inject({ method: 'POST', url: '/v1/guarded', headers, payload: {} });
    const again = await app.inject({ method: 'POST', url: '/v1/guarded', headers, payload: {} });
    expect(again.json()).toEqual(first.json());
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect((await raw.keys(`${prefix}*`)).length).toBe(before + 1);
    const signIn = { ...auth, 'idempotency-key': 'k-wrong-password' };
    const refused = await app.inject({
      method: 'POST',
      url: '/v1/sign-in',
      headers: signIn,
      payload: {},
    });
    const retried = await app.inject({
      method: 'POST',
      url: '/v1/sign-in',
      headers: signIn,
      payload: {},
    });
    expect(refused.statusCode).toBe(401);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.json()).toEqual(refused.json());
    await app.close();
  });

  it('keeps a token-bearing answer sealed: no Idempotency-Key and no plaintext in Redis, and replays the exact first answer', async () => {
    const app = await server({ fingerprintKey: serviceKey });
    const idem = `k-secret-${randomBytes(6).toString('hex')}`;
    const headers = { ...auth, 'idempotency-key': idem };
    const body = { code: '654321' };
    const url = '/v1/sessions/l-1/verify';
    const first = await app.inject({ method: 'POST', url, headers, payload: body });
    const again = await app.inject({ method: 'POST', url, headers, payload: body });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toBe(first.body);
    expect(again.headers['content-type']).toBe(first.headers['content-type']);
    const token = String(first.json().sessionToken);

    const text = await stored();
    expect(text).toContain('idem:http:');
    expect(text).not.toContain(idem);
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.slice('token-'.length));
    expect(text).not.toContain(Buffer.from(first.body).toString('base64'));
    // The store's key is the HMAC (under the service key) of the method, URL and Idempotency-Key.
    const storeKey = idempotencyStoreKey(serviceKey, auth.authorization, 'POST', url, idem);
    expect(storeKey).toMatch(/^idem:http:[0-9a-f]{16}:[0-9a-f]{64}$/);
    const kept = JSON.parse((await raw.get(`${prefix}${storeKey}`)) ?? '{}') as {
      state?: string;
      sealed?: string;
    };
    expect(kept.state).toBe('done');

    // Only the key derived from the client's Idempotency-Key opens it (a positive control first).
    const openWith = (key: Buffer) => {
      const sealed = Buffer.from(kept.sealed ?? '', 'base64');
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
      decipher.setAAD(Buffer.from(storeKey, 'utf8'));
      decipher.setAuthTag(sealed.subarray(12, 28));
      return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString();
    };
    const derive = (k: string) =>
      createHmac('sha256', serviceKey).update(`answer\nPOST\n${url}\n${k}`).digest();
    expect(openWith(derive(idem))).toContain(token);
    expect(() => openWith(derive('k-other'))).toThrow();
    expect(() => openWith(serviceKey)).toThrow();

    // Another Idempotency-Key with the same body is another request: it runs, and reads nothing.
    const other = await app.inject({
      method: 'POST',
      url,
      headers: { ...auth, 'idempotency-key': 'k-other' },
      payload: body,
    });
    expect(other.statusCode).toBe(201);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(other.json().sessionToken).not.toBe(token);

    // A sealed answer moved under another key's store entry does not open there: refused, not leaked.
    const movedKey = idempotencyStoreKey(serviceKey, auth.authorization, 'POST', url, 'k-moved');
    await raw.set(`${prefix}${movedKey}`, JSON.stringify(kept), 'EX', 60);
    const moved = await app.inject({
      method: 'POST',
      url,
      headers: { ...auth, 'idempotency-key': 'k-moved' },
      payload: body,
    });
    expect(moved.statusCode).toBe(409);
    expect(moved.body).not.toContain(token);
    await app.close();
  });

  it('keeps the rules: 409 while in progress, 5xx not kept, at most 200 characters, 503 without Redis', async () => {
    const app = Fastify();
    registerIdempotency(app, redis, 86_400, { fingerprintKey: serviceKey });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let failures = 0;
    app.post('/v1/slow', async (_request, reply) => {
      await gate;
      return reply.status(201).send({ ok: true });
    });
    app.post('/v1/flaky', async (_request, reply) =>
      ++failures === 1
        ? reply.status(500).send({ failed: true })
        : reply.status(201).send({ ok: failures }),
    );
    await app.ready();

    const post = (url: string, idem: string) => postEmpty(app, url, idem);
    const running = post('/v1/slow', 'k-slow');
    await new Promise((r) => setTimeout(r, 50));
    const during = await post('/v1/slow', 'k-slow');
    expect(during.statusCode).toBe(409);
    expect(during.json().code).toBe('idempotency_conflict');
    release();
    expect((await running).statusCode).toBe(201);

    const failed = await post('/v1/flaky', 'k-flaky');
    const retried = await post('/v1/flaky', 'k-flaky');
    expect(failed.statusCode).toBe(500);
    expect(retried.statusCode).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();

    const tooLong = await post('/v1/flaky', 'x'.repeat(201));
    expect(tooLong.statusCode).toBe(400);
    await app.close();

    const down = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    const offline = Fastify();
    registerIdempotency(offline, down, 86_400, { fingerprintKey: serviceKey });
    offline.post('/v1/things', async (_request, reply) => reply.status(201).send({}));
    await offline.ready();
    const refused = await offline.inject({
      method: 'POST',
      url: '/v1/things',
      headers: { ...auth, 'idempotency-key': 'k-down' },
      payload: {},
    });
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    await offline.close();
    down.disconnect();
  });

  it('keeps no 429 (the retry after the wait runs), and replays the headers a kept answer carried: a 201 with its Location and Cache-Control', async () => {
    const app = Fastify();
    registerIdempotency(app, redis, 86_400, { fingerprintKey: serviceKey });
    app.post('/v1/limited', async (_request, reply) =>
      reply
        .status(429)
        .header('retry-after', '30')
        .header('content-type', 'application/problem+json')
        .send({ status: 429, code: 'rate_limited', retryAfter: 30, n: ++calls }),
    );
    app.post('/v1/created', async (_request, reply) =>
      reply
        .status(201)
        .header('location', `/v1/created/c-${++calls}`)
        .header('cache-control', 'no-store')
        .send({ secret: randomBytes(8).toString('hex') }),
    );
    await app.ready();
    const post = (url: string, idem: string) => postEmpty(app, url, idem);

    // A 429 did nothing and asks for a retry after its wait: the retry with the same key runs
    // (kept, it would be refused again for as long as answers are kept).
    const limitedKey = `k-429-${randomBytes(4).toString('hex')}`;
    const limited = await post('/v1/limited', limitedKey);
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('30');
    const retried = await post('/v1/limited', limitedKey);
    expect(retried.statusCode).toBe(429);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(retried.json<{ n: number }>().n).toBe(limited.json<{ n: number }>().n + 1);
    expect(retried.headers['retry-after']).toBe('30');

    const createdKey = `k-201-${randomBytes(4).toString('hex')}`;
    const created = await post('/v1/created', createdKey);
    const again = await post('/v1/created', createdKey);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toBe(created.body);
    expect(again.headers['location']).toBe(created.headers['location']);
    expect(again.headers['cache-control']).toBe('no-store');
    // The headers are sealed with the answer: the store holds neither in clear.
    expect(await stored()).not.toContain(String(created.headers['location']));
    await app.close();
  });

  it("replays a named client's answer to a retry sent with its rotated key, and only to that client", async () => {
    const keys = parseApiKeys(
      'shop@old-key:storefront,shop@new-key:storefront,other-key:storefront',
    );
    const callerOf = namedClientLookup(keys);
    const post = (app: FastifyInstance, key: string, idem: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/things',
        headers: { authorization: `Bearer ${key}`, 'idempotency-key': idem },
        payload: { amount: 1 },
      });
    const app = await server({ fingerprintKey: serviceKey, ...(callerOf ? { callerOf } : {}) });
    const idem = `k-rotate-${randomBytes(4).toString('hex')}`;
    const first = await post(app, 'old-key', idem);
    const rotated = await post(app, 'new-key', idem);
    expect(first.statusCode).toBe(201);
    expect(rotated.statusCode).toBe(201);
    expect(rotated.headers['idempotent-replayed']).toBe('true');
    expect(rotated.json()).toEqual(first.json());
    // Another client's key with the same Idempotency-Key is its own request.
    const stranger = await post(app, 'other-key', idem);
    expect(stranger.headers['idempotent-replayed']).toBeUndefined();
    expect(stranger.json()).not.toEqual(first.json());
    await app.close();

    // Without the lookup (keys not named) a new key is a new caller, as before.
    const plain = await server({ fingerprintKey: serviceKey });
    const idem2 = `k-plain-${randomBytes(4).toString('hex')}`;
    const a = await post(plain, 'old-key', idem2);
    const b = await post(plain, 'new-key', idem2);
    expect(b.json()).not.toEqual(a.json());
    expect(namedClientLookup(parseApiKeys('a-key:storefront'))).toBeUndefined();
    await plain.close();
  });

  it("keeps a named client's entries out of reach of any header, even one spelling its caller id", async () => {
    const callerOf = namedClientLookup(parseApiKeys('shop@old-key:storefront'));
    const app = await server({ fingerprintKey: serviceKey, ...(callerOf ? { callerOf } : {}) });
    const idem = `k-forged-${randomBytes(4).toString('hex')}`;
    const send = (authorization: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/things',
        headers: { authorization, 'idempotency-key': idem },
        payload: { amount: 2 },
      });
    // An attacker claims the key first, with a header that spells the client's caller id…
    const forged = await send('client:shop');
    expect(forged.headers['idempotent-replayed']).toBeUndefined();
    // …the client's own request still runs (not the forger's answer), and is replayed to the client only.
    const own = await send('Bearer old-key');
    expect(own.headers['idempotent-replayed']).toBeUndefined();
    expect(own.json()).not.toEqual(forged.json());
    const replay = await send('client:shop');
    expect(replay.json()).toEqual(forged.json());
    expect((await send('Bearer old-key')).json()).toEqual(own.json());
    await app.close();
  });

  it('finds entries stored under an earlier service key, under the credential (previous version) and before a key was named', async () => {
    const body = { amount: 3 };
    const post = (app: FastifyInstance, authorization: string, idem: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/things',
        headers: { authorization, 'idempotency-key': idem },
        payload: body,
      });
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    // Stored by the previous version: no service key, so under the credential.
    const legacy = await server();
    const idemLegacy = `k-legacy-${randomBytes(4).toString('hex')}`;
    const legacyFirst = await post(legacy, 'Bearer shop-key', idemLegacy);
    await legacy.close();
    // Stored before the rotation of the service key, and before the client was named.
    const before = await server({ fingerprintKey: oldKey });
    const idemRotated = `k-rotated-${randomBytes(4).toString('hex')}`;
    const rotatedFirst = await post(before, 'Bearer shop-key', idemRotated);
    await before.close();

    const callerOf = namedClientLookup(parseApiKeys('shop@shop-key:storefront'));
    const after = await server({
      fingerprintKey: newKey,
      previousFingerprintKeys: [oldKey],
      readCredentialKeyed: true,
      ...(callerOf ? { callerOf } : {}),
    });
    for (const [idem, first] of [
      [idemLegacy, legacyFirst],
      [idemRotated, rotatedFirst],
    ] as const) {
      const again = await post(after, 'Bearer shop-key', idem);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.json()).toEqual(first.json());
      // Still found, and still refused with another body.
      const other = await after.inject({
        method: 'POST',
        url: '/v1/things',
        headers: { authorization: 'Bearer shop-key', 'idempotency-key': idem },
        payload: { amount: 4 },
      });
      expect(other.statusCode).toBe(409);
    }
    // A new key is stored under the new service key and the named caller.
    const idemNew = `k-new-${randomBytes(4).toString('hex')}`;
    const fresh = await post(after, 'Bearer shop-key', idemNew);
    expect((await post(after, 'Bearer shop-key', idemNew)).json()).toEqual(fresh.json());
    await after.close();
    // Without the earlier keys the old entries are not found: the request runs again.
    const forgetful = await server({ fingerprintKey: newKey });
    expect((await post(forgetful, 'Bearer shop-key', idemRotated)).json()).not.toEqual(
      rotatedFirst.json(),
    );
    await forgetful.close();
  });

  it('refuses a fingerprint key shorter than 32 bytes', () => {
    expect(() => setIdempotencyPolicy(Fastify(), { fingerprintKey: randomBytes(16) })).toThrow(
      /32 bytes/,
    );
  });
});
