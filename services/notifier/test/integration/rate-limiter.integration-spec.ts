import { createRedis, redisReady } from '@phonegate/platform';
import { dropRedisPrefix, redisPrefix, TEST_INFRA } from '@phonegate/platform/testing';
import type { Redis } from 'ioredis';
import { RedisRateLimiter } from '../../src/carriers';

jest.setTimeout(30_000);

/** The shared send-rate ceiling on the real Redis: concurrent takes share script calls. */
describe('RedisRateLimiter', () => {
  const prefix = redisPrefix();
  let redis: Redis;
  let calls = 0;

  beforeAll(async () => {
    redis = createRedis({ url: TEST_INFRA.redisUrl, keyPrefix: prefix });
    await redisReady(redis);
    new RedisRateLimiter(redis); // defines the script command
    const take = (redis as unknown as Record<string, (...a: unknown[]) => unknown>)[
      'phonegateTakeToken'
    ]!.bind(redis);
    (redis as unknown as Record<string, unknown>)['phonegateTakeToken'] = (...a: unknown[]) => {
      calls++;
      return take(...a);
    };
  });

  afterAll(async () => {
    await dropRedisPrefix(prefix);
    redis.disconnect();
  });

  it('grants exactly the burst to 60 concurrent takes, in a few round trips', async () => {
    const limiter = new RedisRateLimiter(redis);
    calls = 0;
    const results = await Promise.all(
      Array.from({ length: 60 }, () => limiter.take('burst', { ratePerSec: 1, capacity: 10 })),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    for (const r of results.filter((x) => !x.allowed))
      expect(r.retryAfterMs).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(3);
  });

  it('shares one bucket between limiters (replicas) and refills at the rate', async () => {
    const [a, b] = [new RedisRateLimiter(redis), new RedisRateLimiter(redis)];
    const limits = { ratePerSec: 20, capacity: 5 };
    const first = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).take('shared', limits)),
    );
    expect(first.filter((r) => r.allowed)).toHaveLength(5);
    const waitMs = Math.max(...first.filter((r) => !r.allowed).map((r) => r.retryAfterMs));
    expect(waitMs).toBeLessThanOrEqual(50);
    await new Promise((r) => setTimeout(r, 160)); // ~3 tokens
    const later = await Promise.all(Array.from({ length: 8 }, () => a.take('shared', limits)));
    const granted = later.filter((r) => r.allowed).length;
    expect(granted).toBeGreaterThanOrEqual(2);
    expect(granted).toBeLessThanOrEqual(4);
  });

  it('falls back to an in-memory bucket at the same rate when Redis cannot answer', async () => {
    const down = createRedis({ url: TEST_INFRA.redisUrl, keyPrefix: prefix });
    await redisReady(down);
    down.disconnect();
    const fallbacks: string[] = [];
    const limiter = new RedisRateLimiter(down, 'carrier:bucket:', (id) => fallbacks.push(id));
    const results = await Promise.all(
      Array.from({ length: 6 }, () => limiter.take('down', { ratePerSec: 1, capacity: 4 })),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(4);
    expect(fallbacks.length).toBeGreaterThan(0);
  });
});
