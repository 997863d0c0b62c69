import { randomUUID } from 'node:crypto';
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

  /**
   * Replaces the value (keeping its time to live) only while its `field` still holds
   * `expected` (a string, or null/absent for null): of concurrent writers that read the
   * same value only one moves it on. False when it changed meanwhile or is gone.
   */
  async replaceIf(id: string, value: T, field: keyof T & string, expected: string | null): Promise<boolean> {
    const done = await guard(
      this.redis.eval(REPLACE_IF, 1, this.key(id), JSON.stringify(value), field, expected ?? ''),
    );
    return done === 1;
  }

  /**
   * Takes a one-time claim named `name` (beside the records) for `ttlMs`: its token for the
   * one caller that took it, undefined while someone holds it. Only the token's holder gives
   * it back or holds it longer (a late finisher does not free the next holder's claim).
   */
  async claim(name: string, ttlMs: number): Promise<string | undefined> {
    const token = randomUUID();
    const done = await guard(
      this.redis.set(this.key(`claim:${name}`), token, 'PX', Math.max(1, Math.round(ttlMs)), 'NX'),
    );
    return done === 'OK' ? token : undefined;
  }

  /** Milliseconds a claim is still held (0 when free). */
  async claimedFor(name: string): Promise<number> {
    return Math.max(0, await guard(this.redis.pttl(this.key(`claim:${name}`))));
  }

  /** Gives the claim back if `token` still holds it. */
  async releaseClaim(name: string, token: string): Promise<void> {
    await guard(this.redis.eval(RELEASE_IF_HELD, 1, this.key(`claim:${name}`), token));
  }

  /** Holds the claim for `ttlMs` from now if `token` still holds it; false when it does not. */
  async holdClaim(name: string, token: string, ttlMs: number): Promise<boolean> {
    const done = await guard(
      this.redis.eval(HOLD_IF_HELD, 1, this.key(`claim:${name}`), token, String(Math.max(1, Math.round(ttlMs)))),
    );
    return done === 1;
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

  /**
   * Reads and deletes in one step only while the stored JSON's `field` holds `expected` and its
   * `present` field is set (not null): of concurrent takers only one gets the value, with the
   * time it had left to live. A record that does not match is left as it is.
   */
  async takeIf(id: string, field: keyof T & string, expected: string, present: keyof T & string): Promise<{ value: T; ttlMs: number } | undefined> {
    const taken = await guard(this.redis.eval(TAKE_IF, 1, this.key(id), field, expected, present));
    if (!Array.isArray(taken) || typeof taken[0] !== 'string') return undefined;
    return { value: JSON.parse(taken[0]) as T, ttlMs: Number(taken[1]) };
  }

  /** Puts a taken value back for `ttlMs` unless the id holds another value meanwhile. */
  async putBack(id: string, value: T, ttlMs: number): Promise<void> {
    await guard(this.redis.set(this.key(id), JSON.stringify(value), 'PX', Math.max(1, Math.round(ttlMs)), 'NX'));
  }

  async delete(id: string): Promise<void> {
    await guard(this.redis.del(this.key(id)));
  }
}

/** SET KEEPTTL of ARGV[1] while the stored JSON's ARGV[2] equals ARGV[3] ('' for null or absent). */
const REPLACE_IF = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local current = cjson.decode(raw)[ARGV[2]]
if current == nil or current == cjson.null then current = '' end
if tostring(current) ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
return 1
`;

/** GET and DEL while the stored JSON's ARGV[1] equals ARGV[2] and its ARGV[3] is set: {value, pttl}, else nil. */
const TAKE_IF = `
local raw = redis.call('GET', KEYS[1])
if not raw then return nil end
local record = cjson.decode(raw)
local present = record[ARGV[3]]
if tostring(record[ARGV[1]]) ~= ARGV[2] or present == nil or present == cjson.null then return nil end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
return {raw, ttl}
`;

/** DEL of the claim while it holds ARGV[1] (its holder's token). */
const RELEASE_IF_HELD = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** PEXPIRE of the claim to ARGV[2] ms while it holds ARGV[1]. */
const HOLD_IF_HELD = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

/** Runs a Redis call; any failure becomes 503 service_unavailable. */
export async function guard<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch {
    throw new DomainError('service_unavailable', 'A store this service needs is unavailable; retry shortly.', { retryAfter: 1 }, true);
  }
}
