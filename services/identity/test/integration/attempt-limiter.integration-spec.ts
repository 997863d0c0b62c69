import { createRedis, DomainError, redisReady } from '@phonegate/platform';
import { dropRedisPrefix, redisPrefix, TEST_INFRA } from '@phonegate/platform/testing';
import type { Redis } from 'ioredis';
import { AttemptLimiter, CodeFailureCounter } from '../../src/security/signin-throttle';

describe('AttemptLimiter on real Redis', () => {
  const prefix = redisPrefix();
  let redis: Redis;

  beforeAll(async () => {
    redis = createRedis({ url: TEST_INFRA.redisUrl, keyPrefix: prefix });
    await redisReady(redis);
  });

  afterAll(async () => {
    await redis.quit();
    await dropRedisPrefix(prefix);
  });

  it('lets exactly the limit through under 60 parallel attempts, then answers 429 with a Retry-After', async () => {
    const limiter = new AttemptLimiter(redis, 60_000);
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, () =>
        limiter.reserve([
          { key: 'a:1', max: 10 },
          { key: 'ip:1', max: 100 },
        ]),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(DomainError);
    expect((refused.reason as DomainError).code).toBe('rate_limited');
    expect((refused.reason as DomainError).retryAfterSeconds).toBeGreaterThan(0);
    expect(Number(await redis.get('ip:1'))).toBe(10);
  });

  it('a success clears the account counter and gives the IP reservation back', async () => {
    const limiter = new AttemptLimiter(redis, 60_000);
    for (let i = 0; i < 3; i++)
      await limiter.reserve([
        { key: 'a:2', max: 3 },
        { key: 'ip:2', max: 10 },
      ]);
    await expect(
      limiter.reserve([
        { key: 'a:2', max: 3 },
        { key: 'ip:2', max: 10 },
      ]),
    ).rejects.toThrow(DomainError);
    await limiter.release(['a:2'], ['ip:2']);
    expect(await redis.get('a:2')).toBeNull();
    expect(Number(await redis.get('ip:2'))).toBe(2);
    await limiter.reserve([
      { key: 'a:2', max: 3 },
      { key: 'ip:2', max: 10 },
    ]);
  });

  it('counts consecutive code failures per account until cleared', async () => {
    const counter = new CodeFailureCounter(redis, 60_000);
    expect(await counter.fail('acc')).toBe(1);
    expect(await counter.fail('acc')).toBe(2);
    expect(await counter.retryAfterSeconds('acc')).toBeGreaterThan(0);
    await counter.clear('acc');
    expect(await counter.count('acc')).toBe(0);
  });

  it('counts a named failure once, even under 20 parallel submissions', async () => {
    const counter = new CodeFailureCounter(redis, 60_000);
    expect(await counter.fail('acc-1')).toBe(1);
    const counted = await Promise.all(
      Array.from({ length: 20 }, () => counter.fail('acc-1', 'lock:challenge-1')),
    );
    expect(counted.filter((c) => c !== undefined)).toEqual([2]);
    expect(await counter.fail('acc-1', 'lock:challenge-2')).toBe(3);
    expect(await counter.count('acc-1')).toBe(3);
  });

  it('gives one alert a window, under parallel claims; a success does not give it back', async () => {
    const counter = new CodeFailureCounter(redis, 60_000);
    const claims = await Promise.all(Array.from({ length: 10 }, () => counter.claimAlert('acc-2')));
    expect(claims.filter(Boolean)).toHaveLength(1);
    await counter.clear('acc-2');
    expect(await counter.claimAlert('acc-2')).toBe(false);
    await counter.releaseAlert('acc-2');
    expect(await counter.claimAlert('acc-2')).toBe(true);
  });
});
