import { randomUUID } from 'node:crypto';
import type { Logger } from '@phonegate/platform';
import type { Redis } from 'ioredis';

/** What became of a message's dedupeKey: this message holds it now, held it already, or another does. */
export type DedupeVerdict = 'claimed' | 'mine' | 'taken';

/** A carrier took the message: what `sent` records (kept when the message log could not take it). */
export interface Acceptance {
  carrier: string;
  providerMessageId: string;
  at: Date;
}

/**
 * KEYS[1] the message's lock, KEYS[2] its accepted-send record, KEYS[3] (optional) its
 * dedupeKey; ARGV: lock token, lock TTL, message id, dedupe TTL. The lock first (`busy` if
 * another worker holds it); then, holding it, a carrier acceptance an earlier delivery could not
 * record in the message log (`accepted:<record>`: this delivery records it, sends nothing); then
 * the dedupeKey: the first message id to claim a key keeps it.
 */
const ACQUIRE = `
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 'busy' end
local accepted = redis.call('GET', KEYS[2])
if accepted then return 'accepted:' .. accepted end
if #KEYS < 3 then return 'locked' end
if redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4], 'NX') then return 'claimed' end
if redis.call('GET', KEYS[3]) == ARGV[3] then return 'mine' end
return 'taken'`;
const RENEW =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
const RELEASE =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

type LockRedis = Redis & {
  notifierMessageAcquire(
    lockKey: string,
    acceptedKey: string,
    token: string,
    ttlMs: string,
    messageId: string,
    dedupeTtlMs: string,
  ): Promise<string>;
  notifierMessageAcquireDedupe(
    lockKey: string,
    acceptedKey: string,
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
  /**
   * A carrier took this message on an earlier delivery that could not record it in the message
   * log (`markAccepted`): record it, never send it again. The dedupeKey is not looked at then.
   */
  accepted?: Acceptance;
  /** Lets the lock go (in the background: nothing waits for Redis to answer). */
  release(): void;
}

/**
 * One worker at a time per message id, across replicas: a short Redis lease
 * renewed while the message is worked on, so two deliveries of the same
 * message (a redelivery, a publisher's retry) cannot both reach a carrier,
 * and a crashed worker's lease frees itself within `ttlMs`. The same script
 * claims the message's dedupeKey (at most one message per key, remembered for
 * `dedupeTtlMs`): one round trip for both. It also hands over a carrier acceptance an earlier
 * delivery could not write to the message log (`markAccepted`, kept as long as dedupeKeys,
 * beyond the bus retry tiers' horizon), so the redelivery records it instead of sending again.
 */
export class MessageLocks {
  private readonly redis: LockRedis;

  constructor(
    redis: Redis,
    private readonly logger: Logger,
    private readonly dedupeTtlMs: number,
    private readonly ttlMs = 5_000,
  ) {
    if (!('notifierMessageAcquire' in redis)) {
      // Fixed key counts: the in-memory Redis of the embedded mode (ioredis-mock) reads a
      // caller-given key count wrongly, and took every lock for `busy`.
      redis.defineCommand('notifierMessageAcquire', { numberOfKeys: 2, lua: ACQUIRE });
      redis.defineCommand('notifierMessageAcquireDedupe', { numberOfKeys: 3, lua: ACQUIRE });
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
    const args = [token, String(this.ttlMs), messageId, String(this.dedupeTtlMs)] as const;
    let verdict: string;
    try {
      verdict = await (dedupeKey === undefined
        ? this.redis.notifierMessageAcquire(key, acceptedKey(messageId), ...args)
        : this.redis.notifierMessageAcquireDedupe(
            key,
            acceptedKey(messageId),
            `dedupe:${dedupeKey}`,
            ...args,
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
    const accepted = verdict.startsWith('accepted:')
      ? this.parseAccepted(messageId, verdict.slice('accepted:'.length))
      : undefined;
    const timer = setInterval(
      () => {
        this.redis.notifierLockRenew(key, token, String(this.ttlMs)).catch(() => undefined);
      },
      Math.max(250, Math.floor(this.ttlMs / 3)),
    );
    timer.unref();
    return {
      ...(accepted ? { accepted } : {}),
      ...(verdict === 'locked' || verdict.startsWith('accepted:')
        ? {}
        : { dedupe: verdict as DedupeVerdict }),
      release: () => {
        clearInterval(timer);
        this.redis.notifierLockRelease(key, token).catch(() => undefined);
      },
    };
  }

  /**
   * Keeps a carrier's acceptance the message log could not take, for the next delivery of the
   * message (`acquire` hands it over), as long as dedupeKeys are kept. False when Redis could
   * not take it either (logged).
   */
  async markAccepted(messageId: string, accepted: Acceptance): Promise<boolean> {
    const record: AcceptedRecord = {
      carrier: accepted.carrier,
      providerMessageId: accepted.providerMessageId,
      atMs: accepted.at.getTime(),
    };
    try {
      await this.redis.set(acceptedKey(messageId), JSON.stringify(record), 'PX', this.dedupeTtlMs);
      return true;
    } catch (error) {
      this.logger.warn(
        { messageId, err: (error as Error).message },
        'accepted send not kept in Redis either',
      );
      return false;
    }
  }

  /** Drops a kept acceptance once the message log holds it (in the background). */
  forgetAccepted(messageId: string): void {
    this.redis.del(acceptedKey(messageId)).catch(() => undefined);
  }

  private parseAccepted(messageId: string, raw: string): Acceptance | undefined {
    try {
      const record = JSON.parse(raw) as Partial<AcceptedRecord>;
      if (
        typeof record.carrier === 'string' &&
        typeof record.providerMessageId === 'string' &&
        typeof record.atMs === 'number'
      )
        return {
          carrier: record.carrier,
          providerMessageId: record.providerMessageId,
          at: new Date(record.atMs),
        };
    } catch {
      // below
    }
    this.logger.error({ messageId }, 'accepted send record unreadable; ignored');
    return undefined;
  }
}

/** What `markAccepted` keeps (JSON). */
interface AcceptedRecord {
  carrier: string;
  providerMessageId: string;
  atMs: number;
}

function acceptedKey(messageId: string): string {
  return `accepted:message:${messageId}`;
}
