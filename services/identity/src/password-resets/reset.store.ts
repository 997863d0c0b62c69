import type { Redis } from 'ioredis';
import { guard, JsonStore } from '../shared/json-store';
import type { ResetPolicy } from './reset-policy';

/**
 * A reset in Redis. A decoy has no account and never succeeds, but goes
 * through the same states as a real reset, and ends and counts wrong codes by
 * the same numbers: the otp service's (ResetPolicy, S6). `sending`: the code
 * is on its way, tried again until it leaves or IDENTITY_RESET_SEND_ATTEMPTS
 * run out (`failed`, a clear end: nothing was sent).
 */
export interface ResetRecord {
  accountId: string | null;
  state: 'sending' | 'sent' | 'failed';
  challengeId: string | null;
  /**
   * The verified number (phone id) the code was sent to; null when it went to the e-mail
   * (or for a decoy). Absent in resets stored before it was kept, and until sent.
   */
  phoneId?: string | null;
  /** Tries to send the code so far. */
  sendAttempts: number;
  /** The requester's address, for the otp service's per-IP limits on every try. */
  clientIp?: string;
  /**
   * Epoch ms the reset ends, the Retry-After of a locked one: a sent code's end at the otp
   * service. While `lifeFrom` is there, only what was known when it was stored (see `resetEnd`).
   */
  codeExpiresAt: number;
  /**
   * On a reset whose code the otp service does not hold (a decoy, one not sent yet or never):
   * epoch ms its life starts (the request, then a decoy's round trip in place of a send). It ends
   * the otp service's OTP_RESET_TTL later, as known when it is answered, and takes its
   * OTP_MAX_ATTEMPTS wrong codes: what a real code sent then would do. Absent in a sent real
   * reset, and in resets stored before it was kept (`codeExpiresAt` alone).
   */
  lifeFrom?: number;
  /**
   * Epoch ms a code may be checked from: when the first try to send has surely
   * ended (one otp deadline and a margin after the request), the same for a
   * decoy and a real reset (S6).
   */
  settlesAt: number;
}

/** Reset ids whose code is to be sent, by the epoch ms it is due. */
const SENDS = 'reset-sends';
/** The otp service's reset policy as last learned, for every identity instance. */
const POLICY = 'reset-policy';

/** Counts a wrong code. KEYS: the counter; ARGV: its time to live (ms), set with the first. */
const COUNT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`;

/**
 * Takes up to ARGV[3] sends due at ARGV[1], pushing each back by the lease
 * ARGV[2], so one sender has it at a time and a sender that stops leaves it
 * for the next sweep. KEYS: the index.
 */
const CLAIM = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), id) end
return due
`;

/**
 * Resets and the durable queue of their code sends. A reset is stored with
 * its send in one step, so an accepted reset is never left without one.
 */
export class ResetStore {
  private readonly records: JsonStore<ResetRecord>;

  constructor(private readonly redis: Redis) {
    this.records = new JsonStore(redis, 'reset');
  }

  /** Stores a reset and its send, due at `sendAt` (epoch ms). */
  async accept(id: string, record: ResetRecord, ttlMs: number, sendAt: number): Promise<void> {
    const ttl = Math.max(1, Math.round(ttlMs));
    await guard(
      this.redis
        .multi()
        .set(this.records.key(id), JSON.stringify(record), 'PX', ttl)
        .zadd(SENDS, sendAt, id)
        .exec(),
    );
  }

  /** Stores a reset with nothing to send. */
  put(id: string, record: ResetRecord, ttlMs: number): Promise<void> {
    return this.records.put(id, record, ttlMs);
  }

  get(id: string): Promise<ResetRecord | undefined> {
    return this.records.get(id);
  }

  /** Replaces a reset still there, keeping its time to live. */
  replace(id: string, record: ResetRecord): Promise<boolean> {
    return this.records.replace(id, record);
  }

  /**
   * Replaces a reset still there, to be kept until `untilMs` (epoch ms) from `nowMs`; one whose
   * end has passed is deleted. False when it is gone.
   */
  async replaceUntil(
    id: string,
    record: ResetRecord,
    untilMs: number,
    nowMs: number,
  ): Promise<boolean> {
    const ttl = Math.round(untilMs - nowMs);
    if (ttl < 1) return (await guard(this.redis.del(this.records.key(id)))) === 1;
    const done = await guard(
      this.redis.set(this.records.key(id), JSON.stringify(record), 'PX', ttl, 'XX'),
    );
    return done === 'OK';
  }

  /** The otp service's reset policy as last learned (by any instance), if ever. */
  async policy(): Promise<ResetPolicy | undefined> {
    const raw = await guard(this.redis.get(POLICY));
    if (!raw) return undefined;
    const value = JSON.parse(raw) as Partial<ResetPolicy>;
    // Only what otp's own settings allow (a code life of 30 s to 24 h, SECURITY C4; 1 to 10 wrong
    // codes): anything else (a stale or tampered entry) is no policy, and the next poll saves otp's.
    return isInt(value.ttlMs, 30_000, 86_400_000) && isInt(value.maxAttempts, 1, 10)
      ? { ttlMs: value.ttlMs, maxAttempts: value.maxAttempts }
      : undefined;
  }

  async savePolicy(policy: ResetPolicy): Promise<void> {
    await guard(
      this.redis.set(
        POLICY,
        JSON.stringify({ ttlMs: policy.ttlMs, maxAttempts: policy.maxAttempts }),
      ),
    );
  }

  /** Reads and deletes: of concurrent takers only one gets the reset. */
  take(id: string): Promise<ResetRecord | undefined> {
    return this.records.take(id);
  }

  /**
   * Counts a wrong code on a reset whose code the otp service does not check
   * (a decoy, or one never sent), in one step: parallel wrong codes each get
   * their own count, as a real challenge's do. Answers the count so far.
   */
  async countWrongCode(id: string, ttlMs: number): Promise<number> {
    const ttl = String(Math.max(1, Math.round(ttlMs)));
    return Number(await guard(this.redis.eval(COUNT, 1, `reset-tries:${id}`, ttl)));
  }

  /** The sends due at `nowMs`, each now held for `leaseMs` by the caller. */
  async claim(nowMs: number, leaseMs: number, limit: number): Promise<string[]> {
    return (await guard(
      this.redis.eval(CLAIM, 1, SENDS, String(nowMs), String(leaseMs), String(limit)),
    )) as string[];
  }

  /** Moves a send to `at` (epoch ms). */
  async reschedule(id: string, at: number): Promise<void> {
    await guard(this.redis.zadd(SENDS, at, id));
  }

  /** Epoch ms the reset's send is due (or held until), if one is queued. */
  async sendDueAt(id: string): Promise<number | undefined> {
    const score = await guard(this.redis.zscore(SENDS, id));
    return score === null ? undefined : Number(score);
  }

  /** Ends a reset's send (sent, given up, or the reset is gone). */
  async settle(id: string): Promise<void> {
    await guard(this.redis.zrem(SENDS, id));
  }
}

function isInt(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}
