import type { Redis } from 'ioredis';
import { DomainError } from '@phonegate/platform';

/**
 * Short-lived JSON records in Redis (pending sign-ins, step-ups, resets).
 * A Redis failure is a clear 503, never a skipped check (R1).
 */
export class JsonStore<T> {
  constructor(
    private readonly redis: Redis,
    private readonly namespace: string,
  ) {}

  key(id: string): string {
    return `${this.namespace}:${id}`;
  }

  async put(id: string, value: T, ttlMs: number): Promise<void> {
    await guard(this.redis.set(this.key(id), JSON.stringify(value), 'PX', Math.max(1, Math.round(ttlMs))));
  }

  /** Replaces the value keeping the remaining time to live. */
  async replace(id: string, value: T): Promise<boolean> {
    const done = await guard(this.redis.set(this.key(id), JSON.stringify(value), 'KEEPTTL', 'XX'));
    return done === 'OK';
  }

  async get(id: string): Promise<T | undefined> {
    const raw = await guard(this.redis.get(this.key(id)));
    return raw ? (JSON.parse(raw) as T) : undefined;
  }

  /** Reads and deletes in one step: of concurrent takers only one gets the value. */
  async take(id: string): Promise<T | undefined> {
    const raw = await guard(this.redis.getdel(this.key(id)));
    return raw ? (JSON.parse(raw) as T) : undefined;
  }

  async delete(id: string): Promise<void> {
    await guard(this.redis.del(this.key(id)));
  }
}

/** Runs a Redis call; any failure becomes 503 service_unavailable. */
export async function guard<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch {
    throw new DomainError('service_unavailable', 'A store this service needs is unavailable; retry shortly.', { retryAfter: 1 }, true);
  }
}
