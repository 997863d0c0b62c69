import { createRedis, redisReady } from './redis';

describe('createRedis memory:// (embedded mode)', () => {
  it('runs Lua and keeps prefixes apart, shared by clients of one process', async () => {
    const a = createRedis({ url: 'memory://', keyPrefix: `spec-a-${process.pid}:` });
    const b = createRedis({ url: 'memory://', keyPrefix: `spec-b-${process.pid}:` });
    await redisReady(a);
    await a.set('k', '1');
    await b.set('k', '2');
    expect(await a.eval("return redis.call('INCRBY', KEYS[1], ARGV[1])", 1, 'k', '5')).toBe(6);
    expect(await b.get('k')).toBe('2');
    await a.del('k');
    await b.del('k');
  });
});
