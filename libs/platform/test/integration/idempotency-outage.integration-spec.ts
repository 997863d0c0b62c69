import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import type { Redis } from 'ioredis';
import { registerIdempotency } from '../../src';
import { createRedis } from '../../src/redis/redis';
import { dropRedisPrefix, eventually, redisPrefix, TEST_INFRA } from '../../src/testing';
import { type RedisProxy, startRedisProxy } from '../support/redis-proxy';

/**
 * The Idempotency-Key store when Redis stalls or a connection drops (QA outage drills): a claim
 * whose command failed never strands the key (the request did not run, its retry must), a
 * request really in progress is still refused with a Retry-After, and an answer whose write was
 * lost is still kept once Redis answers again.
 */
describe('Idempotency-Key store across a Redis stall or a dropped connection', () => {
  const prefix = redisPrefix();
  const auth = { authorization: 'Bearer sf-key' };
  let proxy: RedisProxy;
  let redis: Redis;
  let direct: Redis;
  let app: FastifyInstance;
  /** How many times each route's handler ran, by Idempotency-Key. */
  const runs = new Map<string, number>();
  let gate: Promise<void> = Promise.resolve();
  /** Called by a handler before it answers (to cut the connection under the answer's write). */
  let beforeAnswer: () => void = () => undefined;

  const ran = (key: string): number => runs.get(key) ?? 0;
  const post = (url: string, key: string): Promise<LightMyRequestResponse> =>
    app.inject({
      method: 'POST',
      url,
      headers: { ...auth, 'idempotency-key': key },
      payload: { amount: 1 },
    });
  /** Posts; the connection is cut under the store's first command after the handler (never sent to Redis). */
  async function answerThenCut(url: string, key: string): Promise<LightMyRequestResponse> {
    let cut: Promise<void> = Promise.resolve();
    beforeAnswer = () => {
      cut = proxy.cutAtNextCommand();
    };
    const answer = await post(url, key);
    await cut;
    return answer;
  }
  /** The store's entries (KEYS takes a pattern: ioredis does not prefix it). */
  const entries = (): Promise<string[]> => direct.keys(`${prefix}idem:*`);

  beforeAll(async () => {
    proxy = await startRedisProxy(new URL(TEST_INFRA.redisUrl));
    // A short command timeout keeps the stalls short; the platform's default is 1 s.
    redis = createRedis({ url: proxy.url, keyPrefix: prefix, commandTimeoutMs: 300 });
    direct = createRedis({ url: TEST_INFRA.redisUrl, keyPrefix: prefix });
    await eventually(() => redis.status === 'ready' && direct.status === 'ready');
    app = Fastify();
    registerIdempotency(app, redis, 86_400, { fingerprintKey: randomBytes(32) });
    app.post('/v1/things', async (request, reply) => {
      const key = String(request.headers['idempotency-key']);
      runs.set(key, ran(key) + 1);
      await gate;
      beforeAnswer();
      beforeAnswer = () => undefined;
      return reply.status(201).send({ id: `thing-${key}-${ran(key)}` });
    });
    app.post('/v1/flaky', async (request, reply) => {
      const key = String(request.headers['idempotency-key']);
      runs.set(key, ran(key) + 1);
      beforeAnswer();
      beforeAnswer = () => undefined;
      return ran(key) === 1
        ? reply.status(500).send({ failed: true })
        : reply.status(201).send({ ok: ran(key) });
    });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    redis?.disconnect();
    direct?.disconnect();
    await proxy?.close();
    await dropRedisPrefix(prefix);
  });

  afterEach(async () => {
    proxy.resume();
    await eventually(() => redis.status === 'ready');
    await redis.ping();
  });

  it('runs, once, a retry after a stall during which the claim timed out (its late SET does not strand the key)', async () => {
    const key = `k-stall-${randomBytes(4).toString('hex')}`;
    proxy.pause();
    const during = await post('/v1/things', key);
    expect(during.statusCode).toBe(503);
    expect(during.headers['retry-after']).toBe('1');
    expect(ran(key)).toBe(0);
    // The stall lasts past the release's own timeout too: Redis runs what it was sent when it resumes.
    await new Promise((resolve) => setTimeout(resolve, 700));
    proxy.resume();
    await redis.ping(); // answered after the late SET and whatever followed it on the connection

    const retry = await post('/v1/things', key);
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(ran(key)).toBe(1);
    const again = await post('/v1/things', key);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toBe(retry.body);
    expect(ran(key)).toBe(1);
  });

  it('runs a retry after the connection dropped under a claim that Redis did store (the release follows the reconnect)', async () => {
    const key = `k-cut-${randomBytes(4).toString('hex')}`;
    const before = (await entries()).length;
    const cut = proxy.cutAtNextReply();
    const during = await post('/v1/things', key);
    await cut;
    expect(during.statusCode).toBe(503);
    expect(ran(key)).toBe(0);
    // The claim is in Redis (its answer was lost) until the release runs after the reconnect.
    await eventually(async () => (await entries()).length === before, 5_000);

    const retry = await post('/v1/things', key);
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(ran(key)).toBe(1);
  });

  it('still refuses a retry of a request in progress, with Retry-After, even when a claim that failed in a stall is released', async () => {
    const key = `k-busy-${randomBytes(4).toString('hex')}`;
    let open: () => void = () => undefined;
    gate = new Promise<void>((resolve) => (open = resolve));
    const running = post('/v1/things', key);
    try {
      await eventually(() => ran(key) === 1);
      await refusedWhileRunning(key);
    } finally {
      open();
      gate = Promise.resolve();
    }
    const first = await running;
    expect(first.statusCode).toBe(201);
    const replay = await post('/v1/things', key);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toBe(first.body);
    expect(ran(key)).toBe(1);
  });

  async function refusedWhileRunning(key: string): Promise<void> {
    // A retry during a stall: its claim times out; its release must not remove the first request's claim.
    proxy.pause();
    const stalled = await post('/v1/things', key);
    expect(stalled.statusCode).toBe(503);
    proxy.resume();
    await redis.ping();

    const during = await post('/v1/things', key);
    expect(during.statusCode).toBe(409);
    expect(during.json().code).toBe('idempotency_conflict');
    expect(during.headers['retry-after']).toBe('1');
    expect(ran(key)).toBe(1);
  }

  it('keeps an answer whose write was lost with the connection once Redis answers again: the retry is replayed, not run again', async () => {
    const key = `k-lost-answer-${randomBytes(4).toString('hex')}`;
    const first = await answerThenCut('/v1/things', key);
    expect(first.statusCode).toBe(201);

    const replay = await eventually(async () => {
      const again = await post('/v1/things', key);
      return again.headers['idempotent-replayed'] === 'true' ? again : undefined;
    }, 5_000);
    expect(replay.statusCode).toBe(201);
    expect(replay.body).toBe(first.body);
    expect(ran(key)).toBe(1);
  });

  it('releases a 5xx whose release was lost with the connection: the retry runs', async () => {
    const key = `k-lost-release-${randomBytes(4).toString('hex')}`;
    const failed = await answerThenCut('/v1/flaky', key);
    expect(failed.statusCode).toBe(500);

    const retried = await eventually(async () => {
      const again = await post('/v1/flaky', key);
      return again.statusCode === 201 ? again : undefined;
    }, 5_000);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(ran(key)).toBe(2);
  });
});
