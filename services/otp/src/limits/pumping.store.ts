import type { Redis } from 'ioredis';
import { storeCall } from '../redis/lua-script';

/**
 * SMS-pumping signals (SECURITY S4), kept in Redis:
 * - adjacent numbers: the numbers of one block (a number without its last
 *   digits) that received a code in the last window; a run of close,
 *   sequential numbers at or above the threshold quarantines the block;
 * - conversion: sends and approvals per prefix in two rolling buckets; past a
 *   minimum number of sends, a ratio below the threshold quarantines the prefix.
 * A quarantine is a key holding its reason, with a TTL; the send gates refuse
 * phone sends while it exists.
 *
 * The observation of one send is a Lua function, for the scripts that make it
 * (the steps that create and resend a challenge): its keys are
 * KEYS[k + 1 .. k + 7] and its arguments ARGV[a + 1 .. a + 9] (see observeCall).
 */
export const PUMP_OBSERVE_LUA = `
local function pump_observe(k, a)
  local now = tonumber(ARGV[a + 1])
  local win = tonumber(ARGV[a + 3])
  -- adjacent numbers in the block
  redis.call('ZADD', KEYS[k + 1], now, ARGV[a + 2])
  redis.call('ZREMRANGEBYSCORE', KEYS[k + 1], '-inf', now - win)
  redis.call('PEXPIRE', KEYS[k + 1], win)
  local members = redis.call('ZRANGE', KEYS[k + 1], 0, -1)
  local nums = {}
  for _, m in ipairs(members) do nums[#nums + 1] = tonumber(m) end
  table.sort(nums)
  local run, best = 1, (#nums > 0) and 1 or 0
  for i = 2, #nums do
    if nums[i] - nums[i - 1] <= 2 then run = run + 1 else run = 1 end
    if run > best then best = run end
  end
  local signal = ''
  if best >= tonumber(ARGV[a + 4]) then
    if redis.call('SET', KEYS[k + 6], 'adjacent_numbers: ' .. best .. ' sequential numbers of one block in ' .. ARGV[a + 9], 'PX', ARGV[a + 8], 'NX') then
      signal = 'adjacent'
    end
  end
  -- conversion per prefix
  local sentNow = redis.call('INCR', KEYS[k + 2])
  if sentNow == 1 then redis.call('PEXPIRE', KEYS[k + 2], ARGV[a + 5]) end
  local sent = sentNow + tonumber(redis.call('GET', KEYS[k + 3]) or '0')
  local verified = tonumber(redis.call('GET', KEYS[k + 4]) or '0') + tonumber(redis.call('GET', KEYS[k + 5]) or '0')
  if verified > sent then verified = sent end
  if signal == '' and sent >= tonumber(ARGV[a + 6]) and verified / sent < tonumber(ARGV[a + 7]) then
    if redis.call('SET', KEYS[k + 7], 'low_conversion: ' .. verified .. ' of ' .. sent .. ' codes verified', 'PX', ARGV[a + 8], 'NX') then
      signal = 'low_ratio'
    end
  end
  return {signal, best, sent, verified}
end
`;

export interface PumpKeys {
  prefix: string;
  block: string;
}

export interface PumpObservation {
  signal: '' | 'adjacent' | 'low_ratio';
  run: number;
  sent: number;
  verified: number;
}

export interface PumpSettings {
  adjacentWindowMs: number;
  adjacentThreshold: number;
  ratioWindowMs: number;
  ratioMinSends: number;
  ratioThreshold: number;
  quarantineMs: number;
}

/** KEYS and ARGV of one `pump_observe` (7 keys, 9 arguments). */
export interface PumpCall {
  keys: string[];
  args: (string | number)[];
  /** The prefix's send counter it adds to (given back for a send that never left). */
  sentKey: string;
}

/** Reads `{signal, run, sent, verified}` from a script's reply, from `offset`. */
export function pumpObservation(reply: readonly unknown[], offset = 0): PumpObservation {
  return {
    signal: reply[offset] as PumpObservation['signal'],
    run: Number(reply[offset + 1]),
    sent: Number(reply[offset + 2]),
    verified: Number(reply[offset + 3]),
  };
}

export const quarantineKey = (scope: 'prefix' | 'block', value: string) =>
  `pump:q:${scope}:${value}`;

export class RedisPumping {
  constructor(
    private readonly redis: Redis,
    private readonly settings: PumpSettings,
  ) {}

  private buckets(nowMs: number, kind: 's' | 'v', prefix: string): [string, string] {
    const bucket = Math.floor(nowMs / this.settings.ratioWindowMs);
    return [`pump:${kind}:${prefix}:${bucket}`, `pump:${kind}:${prefix}:${bucket - 1}`];
  }

  /** The keys and arguments of `pump_observe` for a send to a number in `keys.block`. */
  observeCall(keys: PumpKeys, blockIndex: number, nowMs: number): PumpCall {
    const [sentNow, sentPrev] = this.buckets(nowMs, 's', keys.prefix);
    const [verNow, verPrev] = this.buckets(nowMs, 'v', keys.prefix);
    const s = this.settings;
    return {
      sentKey: sentNow,
      keys: [
        `pump:blk:${keys.block}`,
        sentNow,
        sentPrev,
        verNow,
        verPrev,
        quarantineKey('block', keys.block),
        quarantineKey('prefix', keys.prefix),
      ],
      args: [
        nowMs,
        blockIndex,
        s.adjacentWindowMs,
        s.adjacentThreshold,
        s.ratioWindowMs * 2,
        s.ratioMinSends,
        s.ratioThreshold,
        s.quarantineMs,
        `${Math.round(s.adjacentWindowMs / 60_000)}m`,
      ],
    };
  }

  /** The key an approval of a code to `prefix` is counted in (the challenge check script does it), and its TTL. */
  verifiedKey(prefix: string, nowMs: number): { key: string; ttlMs: number } {
    return { key: this.buckets(nowMs, 'v', prefix)[0], ttlMs: this.settings.ratioWindowMs * 2 };
  }

  /** Counts an approved code towards its prefix's conversion. */
  verified(prefix: string, nowMs: number): Promise<void> {
    return storeCall('limit store', async () => {
      const [key] = this.buckets(nowMs, 'v', prefix);
      await this.redis
        .multi()
        .incr(key)
        .pexpire(key, this.settings.ratioWindowMs * 2)
        .exec();
    });
  }
}
