import { randomUUID } from 'node:crypto';
import type { Logger } from '@phonegate/platform';
import type { Redis } from 'ioredis';

const RENEW =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
const RELEASE =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * One worker at a time per message id, across replicas: a short Redis lease
 * renewed while the message is worked on, so two deliveries of the same
 * message (a redelivery, a publisher's retry) cannot both reach a carrier,
 * and a crashed worker's lease frees itself within `ttlMs`.
 */
export class MessageLocks {
  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
    private readonly ttlMs = 5_000,
  ) {}

  /** The lock, or undefined when another worker holds it. Fails open (logged) when Redis is unavailable. */
  async acquire(messageId: string): Promise<HeldLock | undefined> {
    const key = `lock:message:${messageId}`;
    const token = randomUUID();
    try {
      if ((await this.redis.set(key, token, 'PX', this.ttlMs, 'NX')) !== 'OK') return undefined;
    } catch (error) {
      this.logger.warn(
        { messageId, err: (error as Error).message },
        'message lock unavailable; going on without it',
      );
      return { release: async () => undefined };
    }
    const timer = setInterval(
      () => {
        this.redis.eval(RENEW, 1, key, token, String(this.ttlMs)).catch(() => undefined);
      },
      Math.max(250, Math.floor(this.ttlMs / 3)),
    );
    timer.unref();
    return {
      release: async () => {
        clearInterval(timer);
        await this.redis.eval(RELEASE, 1, key, token).catch(() => undefined);
      },
    };
  }
}
