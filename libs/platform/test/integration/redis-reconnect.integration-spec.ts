import net from 'node:net';
import type { Redis } from 'ioredis';
import { createRedis } from '../../src/redis/redis';
import { dropRedisPrefix, eventually, redisPrefix, TEST_INFRA } from '../../src/testing';

/**
 * A TCP proxy in front of the real Redis that can swallow the server's next reply and then
 * cut the client's connection: the command ran on Redis, its answer never came back.
 */
async function startCuttingProxy(target: URL) {
  const clients = new Set<net.Socket>();
  let swallowNextReply = false;
  let cut: (() => void) | undefined;
  const server = net.createServer((client) => {
    clients.add(client);
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (swallowNextReply) {
        swallowNextReply = false;
        client.destroy();
        upstream.destroy();
        cut?.();
        return;
      }
      client.write(chunk);
    });
    const close = () => {
      clients.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    /** The next reply from Redis is dropped and the connection cut; resolves when that happened. */
    cutAtNextReply: () =>
      new Promise<void>((resolve) => {
        swallowNextReply = true;
        cut = resolve;
      }),
    close: async () => {
      for (const c of clients) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('Redis client across a dropped connection (SECURITY R2)', () => {
  const prefix = redisPrefix();
  let proxy: Awaited<ReturnType<typeof startCuttingProxy>>;
  let redis: Redis;
  let direct: Redis;

  beforeAll(async () => {
    proxy = await startCuttingProxy(new URL(TEST_INFRA.redisUrl));
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
