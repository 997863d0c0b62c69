import { Redis, type RedisOptions } from 'ioredis';

export interface RedisSettings {
  url: string;
  keyPrefix?: string;
  /** Per-command deadline (R2): a stuck Redis fails fast instead of hanging a request. */
  commandTimeoutMs?: number;
}

/**
 * ioredis with a command timeout, no unbounded offline queue (commands issued
 * while disconnected fail at once, so callers answer 503 instead of piling
 * up), and capped reconnect back-off.
 *
 * R2: a command on the wire when the connection drops is failed, never sent
 * again after the reconnect (`autoResendUnfulfilledCommands: false`). Redis may
 * have run it (the answer was lost): a counter such as an attempt or a send is
 * then counted once and the caller answers an error (503), never counted twice.
 * A command that timed out (`commandTimeout`) may likewise still run once.
 */
export function createRedis(settings: RedisSettings, extra: RedisOptions = {}): Redis {
  if (settings.url.startsWith('memory://')) return inMemoryRedis(settings.keyPrefix);
  return new Redis(settings.url, {
    keyPrefix: settings.keyPrefix,
    commandTimeout: settings.commandTimeoutMs ?? 1_000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(50 * 2 ** times, 2_000),
    lazyConnect: false,
    ...extra,
  });
}

/**
 * `memory://` (embedded mode only): an in-process Redis that runs the same Lua
 * scripts (ioredis-mock with fengari). Clients of one process share its data,
 * as clients of one server do. Never for production: nothing survives a
 * restart and nothing is shared between processes.
 */
function inMemoryRedis(keyPrefix?: string): Redis {
  // Loaded only in embedded mode.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const RedisMock = require('ioredis-mock') as new (options: { keyPrefix?: string }) => Redis;
  const client = new RedisMock(keyPrefix ? { keyPrefix } : {});
  Object.defineProperty(client, 'status', { value: 'ready', configurable: true });
  return client;
}

/** Resolves when the client is ready (or rejects after `ms`). */
export async function redisReady(redis: Redis, ms = 5_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis not ready')), ms);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
