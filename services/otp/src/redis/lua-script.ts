import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { DomainError } from '@phonegate/platform';

/**
 * A Lua script run with EVALSHA (falling back to EVAL once when the server
 * lost its script cache). Keys go through `KEYS` so ioredis applies the key
 * prefix to them.
 */
export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(
    redis: Redis,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
        return redis.eval(this.source, keys.length, ...keys, ...args);
      }
      throw error;
    }
  }
}

/**
 * Runs a store operation; any failure of Redis itself (connection down,
 * command timeout, offline) becomes a clear 503 `service_unavailable`, so no
 * caller can mistake an outage for a passing check (SECURITY R1).
 */
export async function storeCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof DomainError) throw error;
    throw new DomainError('service_unavailable', `The ${what} is unavailable; try again shortly.`, {
      retryAfter: 1,
    });
  }
}
