import type { Redis } from 'ioredis';
import { CallBatcher } from '../../batching/call-batcher';

export interface BucketState {
  tokens: number;
  /** Epoch ms of the last refill. */
  ts: number;
}

export interface BucketLimits {
  /** Tokens added a second (the send-rate ceiling). */
  ratePerSec: number;
  /** Bucket size: the largest burst. */
  capacity: number;
}

export interface TakeResult {
  allowed: boolean;
  /** When not allowed: how long until a token is there (ms, ≥ 1). 0 when allowed. */
  retryAfterMs: number;
}

/**
 * One token-bucket step, pure: refill by elapsed time (capped at capacity), then take as many
 * of the `wanted` tokens as there are whole ones (none when not even one is there). A new
 * bucket starts full. The Redis script below is this same arithmetic; keep them in step.
 */
export function takeTokens(
  state: BucketState | undefined,
  nowMs: number,
  limits: BucketLimits,
  wanted: number,
): { state: BucketState; granted: number; retryAfterMs: number } {
  let tokens = state?.tokens ?? limits.capacity;
  let ts = state?.ts ?? nowMs;
  if (nowMs > ts) {
    tokens = Math.min(limits.capacity, tokens + ((nowMs - ts) * limits.ratePerSec) / 1000);
    ts = nowMs;
  }
  const granted = Math.min(wanted, Math.floor(tokens));
  if (granted >= 1) return { state: { tokens: tokens - granted, ts }, granted, retryAfterMs: 0 };
  const retryAfterMs = Math.max(1, Math.ceil(((1 - tokens) * 1000) / limits.ratePerSec));
  return { state: { tokens, ts }, granted: 0, retryAfterMs };
}

/** One token (see takeTokens). */
export function takeToken(
  state: BucketState | undefined,
  nowMs: number,
  limits: BucketLimits,
): { state: BucketState; result: TakeResult } {
  const step = takeTokens(state, nowMs, limits, 1);
  return {
    state: step.state,
    result: { allowed: step.granted === 1, retryAfterMs: step.retryAfterMs },
  };
}

/** Takes a send token for a carrier; shared by every replica when backed by Redis. */
export interface RateLimiter {
  take(carrierId: string, limits: BucketLimits): Promise<TakeResult>;
}

/** In-process buckets (one process, or the fallback while Redis is unreachable). */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, BucketState>();
  constructor(private readonly now: () => number = Date.now) {}

  async take(carrierId: string, limits: BucketLimits): Promise<TakeResult> {
    const { state, result } = takeToken(this.buckets.get(carrierId), this.now(), limits);
    this.buckets.set(carrierId, state);
    return result;
  }
}

/**
 * KEYS[1] bucket hash; ARGV: rate per second, capacity, tokens wanted. Time is Redis's own
 * (TIME), so replicas with skewed clocks share one bucket correctly. Returns {granted, waitMs}:
 * as many of the wanted tokens as there are whole ones, or none and how long until one is.
 */
export const TOKEN_BUCKET_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(s[1])
local ts = tonumber(s[2])
if tokens == nil or ts == nil then
  tokens = cap
  ts = now
end
if now > ts then
  tokens = math.min(cap, tokens + (now - ts) * rate / 1000)
  ts = now
end
local granted = math.min(n, math.floor(tokens))
local wait = 0
if granted >= 1 then
  tokens = tokens - granted
else
  granted = 0
  wait = math.max(1, math.ceil((1 - tokens) * 1000 / rate))
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%d', ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(cap * 1000 / rate) + 1000)
return {granted, wait}
`;

type RedisWithBucket = Redis & {
  phonegateTakeToken(
    key: string,
    rate: number,
    capacity: number,
    n: number,
  ): Promise<[number, number]>;
};

/**
 * The send-rate ceiling shared by every notifier replica: one bucket a carrier in Redis
 * (`<keyPrefix>carrier:bucket:<id>`, the client's keyPrefix in front), taken atomically by a
 * Lua script. Takes for one carrier made while its script call is on the wire wait and go
 * together in the next call (one round trip for many concurrent sends, each token still taken
 * for one send at the moment it asks). If Redis cannot answer, the replica falls back to its
 * own in-memory bucket at the same rate (so the ceiling is at worst replicas × rate during an
 * outage) rather than stop sending codes.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly fallback = new MemoryRateLimiter();
  private readonly redis: RedisWithBucket;
  private readonly batchers = new Map<string, CallBatcher<BucketLimits, TakeResult>>();

  constructor(
    redis: Redis,
    private readonly keyPrefix = 'carrier:bucket:',
    private readonly onFallback?: (carrierId: string, error: Error) => void,
  ) {
    if (!('phonegateTakeToken' in redis)) {
      redis.defineCommand('phonegateTakeToken', { numberOfKeys: 1, lua: TOKEN_BUCKET_LUA });
    }
    this.redis = redis as RedisWithBucket;
  }

  take(carrierId: string, limits: BucketLimits): Promise<TakeResult> {
    let batcher = this.batchers.get(carrierId);
    if (!batcher) {
      batcher = new CallBatcher((takes) => this.takeMany(carrierId, takes), {
        maxBatch: 256,
        maxInFlight: 1,
      });
      this.batchers.set(carrierId, batcher);
    }
    return batcher.run(limits);
  }

  /** One script call for several takes: the first `granted` get a token, the others wait. */
  private async takeMany(carrierId: string, takes: readonly BucketLimits[]): Promise<TakeResult[]> {
    const limits = takes[takes.length - 1]!;
    try {
      const [granted, wait] = await this.redis.phonegateTakeToken(
        `${this.keyPrefix}${carrierId}`,
        limits.ratePerSec,
        limits.capacity,
        takes.length,
      );
      const next = Number(wait) || Math.max(1, Math.ceil(1000 / limits.ratePerSec));
      return takes.map((_, i) =>
        i < granted ? { allowed: true, retryAfterMs: 0 } : { allowed: false, retryAfterMs: next },
      );
    } catch (err) {
      this.onFallback?.(carrierId, err as Error);
      return Promise.all(takes.map((l) => this.fallback.take(carrierId, l)));
    }
  }
}
