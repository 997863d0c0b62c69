import { randomUUID } from 'node:crypto';
import type { Logger } from '@phonegate/platform';
import type { Redis } from 'ioredis';

/** What became of a message's dedupeKey: this message holds it now, held it already, or another does. */
export type DedupeVerdict = 'claimed' | 'mine' | 'taken';

/**
 * KEYS[1] the message's lock, KEYS[2] (optional) its dedupeKey; ARGV: lock token, lock TTL,
 * message id, dedupe TTL. The lock first (`busy` if another worker holds it); then, holding it,
 * the dedupeKey: the first message id to claim a key keeps it.
 */
const ACQUIRE = `
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 'busy' end
if #KEYS < 2 then return 'locked' end
if redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4], 'NX') then return 'claimed' end
if redis.call('GET', KEYS[2]) == ARGV[3] then return 'mine' end
return 'taken'`;
const RENEW =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
const RELEASE =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

type LockRedis = Redis & {
  notifierLockAcquire1(lockKey: string, token: string, ttlMs: string): Promise<string>;
  notifierLockAcquire2(
    lockKey: string,
    dedupeKey: string,
    token: string,
    ttlMs: string,
    messageId: string,
    dedupeTtlMs: string,
  ): Promise<string>;
  notifierLockRenew(key: string, token: string, ttlMs: string): Promise<number>;
  notifierLockRelease(key: string, token: string): Promise<number>;
};

export interface HeldLock {
  /** The message's dedupeKey, when it has one: `taken` means another message holds it. */
  dedupe?: DedupeVerdict;
  /** Lets the lock go (in the background: nothing waits for Redis to answer). */
  release(): void;
}

/**
 * One worker at a time per message id, across replicas: a short Redis lease
 * renewed while the message is worked on, so two deliveries of the same
 * message (a redelivery, a publisher's retry) cannot both reach a carrier,
 * and a crashed worker's lease frees itself within `ttlMs`. The same script
 * claims the message's dedupeKey (at most one message per key, remembered for
 * `dedupeTtlMs`): one round trip for both.
 */
export class MessageLocks {
  private readonly redis: LockRedis;

  constructor(
    redis: Redis,
    private readonly logger: Logger,
    private readonly dedupeTtlMs: number,
    private readonly ttlMs = 5_000,
  ) {
    if (!('notifierLockAcquire1' in redis)) {
      // Fixed key counts: the in-memory Redis of the embedded mode (ioredis-mock) reads a
      // caller-given key count wrongly, and took every lock for `busy`.
      redis.defineCommand('notifierLockAcquire1', { numberOfKeys: 1, lua: ACQUIRE });
      redis.defineCommand('notifierLockAcquire2', { numberOfKeys: 2, lua: ACQUIRE });
      redis.defineCommand('notifierLockRenew', { numberOfKeys: 1, lua: RENEW });
      redis.defineCommand('notifierLockRelease', { numberOfKeys: 1, lua: RELEASE });
    }
    this.redis = redis as LockRedis;
  }

  /**
   * The lock (and the dedupeKey's verdict), or undefined when another worker holds the lock.
   * Fails open (logged) when Redis is unavailable: the message log row's claim
   * (`MessageClaims`) still keeps one worker per message, its unique indexes one message per
   * dedupeKey.
   */
  async acquire(messageId: string, dedupeKey?: string): Promise<HeldLock | undefined> {
    const key = `lock:message:${messageId}`;
    const token = randomUUID();
    let verdict: string;
    try {
      verdict = await (dedupeKey === undefined
        ? this.redis.notifierLockAcquire1(key, token, String(this.ttlMs))
        : this.redis.notifierLockAcquire2(
            key,
            `dedupe:${dedupeKey}`,
            token,
            String(this.ttlMs),
            messageId,
            String(this.dedupeTtlMs),
          ));
    } catch (error) {
      this.logger.warn(
        { messageId, err: (error as Error).message },
        'message lock and dedupe store unavailable; relying on the message log',
      );
      return {
        ...(dedupeKey === undefined ? {} : { dedupe: 'claimed' }),
        release: () => undefined,
      };
    }
    if (verdict === 'busy') return undefined;
    const timer = setInterval(
      () => {
        this.redis.notifierLockRenew(key, token, String(this.ttlMs)).catch(() => undefined);
      },
      Math.max(250, Math.floor(this.ttlMs / 3)),
    );
    timer.unref();
    return {
      ...(verdict === 'locked' ? {} : { dedupe: verdict as DedupeVerdict }),
      release: () => {
        clearInterval(timer);
        this.redis.notifierLockRelease(key, token).catch(() => undefined);
      },
    };
  }
}
