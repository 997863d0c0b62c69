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

  /** Not `async`, like storeCall: on the hot path each layer of promises costs (more so with async hooks on). */
  run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return redis.evalsha(this.sha, keys.length, ...keys, ...args).catch((error: unknown) => {
      if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
        return redis.eval(this.source, keys.length, ...keys, ...args);
      }
      throw error;
    });
  }
}

/**
 * Runs a store operation; any failure of Redis itself (connection down,
 * command timeout, offline), thrown or rejected, becomes a clear 503
 * `service_unavailable`, so no caller can mistake an outage for a passing
 * check (SECURITY R1).
 */
export function storeCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const unavailable = (error: unknown): never => {
    if (error instanceof DomainError) throw error;
    throw new DomainError('service_unavailable', `The ${what} is unavailable; try again shortly.`, {
      retryAfter: 1,
    });
  };
  try {
    return fn().catch(unavailable);
  } catch (error) {
    // Thrown before it returned a promise: the same answer, as a rejection.
    return Promise.resolve(error).then(unavailable);
  }
}
