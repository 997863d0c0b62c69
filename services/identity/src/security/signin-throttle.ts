import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { DomainError } from '@phonegate/platform';
import { guard } from '../shared/json-store';

/**
 * Reserve an attempt against both counters, or refuse when either is full.
 * KEYS: one or more counters; ARGV: windowMs, then one limit per key.
 * Returns {1, 0} when reserved, {0, pttl} when refused.
 */
const RESERVE = `
for i, k in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', k) or '0')
  if n >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', k)
    if ttl < 0 then ttl = tonumber(ARGV[1]) end
    return {0, ttl}
  end
end
for i, k in ipairs(KEYS) do
  if redis.call('INCR', k) == 1 then redis.call('PEXPIRE', k, ARGV[1]) end
end
return {1, 0}
`;

export interface WindowLimit {
  key: string;
  max: number;
}

/** A hash of an identifier, so no e-mail or number sits in a Redis key. */
export function keyPart(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/**
 * Fixed-window attempt counters in Redis. An attempt is reserved atomically
 * before the work it guards (so 100 parallel tries cannot all pass a check
 * made before any of them counted), and a success gives its reservation back.
 */
export class AttemptLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly windowMs: number,
  ) {}

  /** Counts one attempt on every limit, or throws 429 rate_limited with Retry-After. */
  async reserve(
    limits: readonly WindowLimit[],
    detail = 'Too many attempts; wait and try again.',
  ): Promise<void> {
    const result = (await guard(
      this.redis.eval(
        RESERVE,
        limits.length,
        ...limits.map((l) => l.key),
        String(this.windowMs),
        ...limits.map((l) => String(l.max)),
      ),
    )) as [number, number];
    if (result[0] !== 1) {
      throw new DomainError('rate_limited', detail, {
        retryAfter: Math.max(1, Math.ceil(result[1] / 1000)),
      });
    }
  }

  /** A success: the account's failures are forgotten, the IP's reservation given back. */
  async release(clear: readonly string[], giveBack: readonly string[]): Promise<void> {
    const multi = this.redis.multi();
    for (const k of clear) multi.del(k);
    for (const k of giveBack) multi.decr(k);
    await guard(multi.exec());
  }
}

/**
 * Counts one failure and restarts the window; with a second key, only if that
 * key is not there yet (it is then set for the window), so one event counts once.
 * KEYS: the counter, optionally the once-key; ARGV: windowMs.
 * Returns the count, or -1 when the once-key was already there.
 */
const FAIL = `
if KEYS[2] and not redis.call('SET', KEYS[2], '1', 'PX', ARGV[1], 'NX') then return -1 end
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n
`;

/**
 * Consecutive wrong codes per account across challenges (C8): a resend or a
 * new challenge does not reset it, a success does. Past the lock threshold
 * a second factor is refused until the window passes or the password is reset.
 */
export class CodeFailureCounter {
  constructor(
    private readonly redis: Redis,
    private readonly windowMs: number,
  ) {}

  private key(accountId: string): string {
    return `codefail:${accountId}`;
  }

  /**
   * Counts a failure; with `once`, only the first failure with that name (the
   * lock of one challenge). Returns the new count, or undefined when not counted.
   */
  async fail(accountId: string, once?: string): Promise<number | undefined> {
    const keys =
      once === undefined ? [this.key(accountId)] : [this.key(accountId), `codefail:once:${once}`];
    const count = Number(
      await guard(this.redis.eval(FAIL, keys.length, ...keys, String(this.windowMs))),
    );
    return count < 0 ? undefined : count;
  }

  async count(accountId: string): Promise<number> {
    return Number((await guard(this.redis.get(this.key(accountId)))) ?? 0);
  }

  async retryAfterSeconds(accountId: string): Promise<number> {
    const ttl = await guard(this.redis.pttl(this.key(accountId)));
    return Math.max(1, Math.ceil((ttl > 0 ? ttl : this.windowMs) / 1000));
  }

  async clear(accountId: string): Promise<void> {
    await guard(this.redis.del(this.key(accountId)));
  }

  /**
   * Takes the account's one alert of the window: true for the first caller
   * in a window (not restarted by later failures, not cleared by a success).
   */
  async claimAlert(accountId: string): Promise<boolean> {
    return (
      (await guard(
        this.redis.set(`codefail:alerted:${accountId}`, '1', 'PX', this.windowMs, 'NX'),
      )) === 'OK'
    );
  }

  /** Gives the window's alert back when it could not be queued, so a later failure tries again. */
  async releaseAlert(accountId: string): Promise<void> {
    await guard(this.redis.del(`codefail:alerted:${accountId}`));
  }
}
