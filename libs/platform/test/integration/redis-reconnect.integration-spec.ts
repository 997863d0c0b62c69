import type { Redis } from 'ioredis';
import { createRedis } from '../../src/redis/redis';
import { dropRedisPrefix, eventually, redisPrefix, TEST_INFRA } from '../../src/testing';
import { type RedisProxy, startRedisProxy } from '../support/redis-proxy';

describe('Redis client across a dropped connection (SECURITY R2)', () => {
  const prefix = redisPrefix();
  let proxy: RedisProxy;
  let redis: Redis;
  let direct: Redis;

  beforeAll(async () => {
    proxy = await startRedisProxy(new URL(TEST_INFRA.redisUrl));
    redis = createRedis({ url: proxy.url, keyPrefix: prefix });
    direct = createRedis({ url: TEST_INFRA.redisUrl, keyPrefix: prefix });
    await eventually(() => redis.status === 'ready');
  });

  afterAll(async () => {
    redis?.disconnect();
    direct?.disconnect();
    await proxy?.close();
    await dropRedisPrefix(prefix);
  });

  it('never runs a counter twice when the connection drops before its answer: the caller gets an error, Redis counted once', async () => {
    await direct.set('attempts', '0');
    const cut = proxy.cutAtNextReply();
    const outcome = redis.incr('attempts').then(
      () => 'answered',
      () => 'failed',
    );
    await cut;
    expect(await outcome).toBe('failed');
    // The client reconnects; a command re-sent after the reconnect would count the attempt again.
    await eventually(() => redis.status === 'ready');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await direct.get('attempts')).toBe('1');
    expect(await redis.incr('attempts')).toBe(2);
  });
});
