import type { Redis } from 'ioredis';

export type GuardVerdict = 'acquired' | 'done' | 'busy';

/**
 * Remembers which event ids a queue has handled (SECURITY M4). `begin` is
 * called before the handler: `acquired` runs it, `done` skips it (ack), `busy`
 * (another delivery is being handled right now) sends the message to a retry
 * tier. Then `complete` after success or `release` after a failure. A service
 * can implement this over a PostgreSQL table (and even mark it in the same
 * transaction as the effect).
 */
export interface IdempotencyGuard {
  begin(queue: string, eventId: string): Promise<GuardVerdict>;
  complete(queue: string, eventId: string): Promise<void>;
  release(queue: string, eventId: string): Promise<void>;
}

export interface RedisGuardOptions {
  /** Prepended to `idem:<queue>:<eventId>` (in addition to the client's own keyPrefix). */
  prefix?: string;
  /** How long a delivery may hold an id while its handler runs (a crashed one frees it then). Default 30 s. */
  processingTtlMs?: number;
  /** How long a handled id is remembered. Default 7 days. */
  doneTtlMs?: number;
}

/** Keys `<prefix>idem:<queue>:<eventId>` = `processing` (short TTL) then `done` (long TTL). */
export class RedisIdempotencyGuard implements IdempotencyGuard {
  private readonly prefix: string;
  private readonly processingTtlMs: number;
  private readonly doneTtlMs: number;

  constructor(
    private readonly redis: Redis,
    options: RedisGuardOptions = {},
  ) {
    this.prefix = options.prefix ?? '';
    this.processingTtlMs = options.processingTtlMs ?? 30_000;
    this.doneTtlMs = options.doneTtlMs ?? 7 * 24 * 3600_000;
  }

  key(queue: string, eventId: string): string {
    return `${this.prefix}idem:${queue}:${eventId}`;
  }

  async begin(queue: string, eventId: string): Promise<GuardVerdict> {
    const key = this.key(queue, eventId);
    const set = await this.redis.set(key, 'processing', 'PX', this.processingTtlMs, 'NX');
    if (set === 'OK') return 'acquired';
    const state = await this.redis.get(key);
    if (state === 'done') return 'done';
    if (state === null) {
      // Expired between the two calls: try once more.
      const again = await this.redis.set(key, 'processing', 'PX', this.processingTtlMs, 'NX');
      return again === 'OK' ? 'acquired' : 'busy';
    }
    return 'busy';
  }

  async complete(queue: string, eventId: string): Promise<void> {
    await this.redis.set(this.key(queue, eventId), 'done', 'PX', this.doneTtlMs);
  }

  async release(queue: string, eventId: string): Promise<void> {
    // Only a key still `processing` is ours to free; never forget a `done`.
    const key = this.key(queue, eventId);
    await this.redis.eval(
      "if redis.call('GET', KEYS[1]) == 'processing' then return redis.call('DEL', KEYS[1]) end return 0",
      1,
      key,
    );
  }
}
