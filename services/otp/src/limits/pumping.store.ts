import type { Redis } from 'ioredis';
import { LuaScript, storeCall } from '../redis/lua-script';

/**
 * SMS-pumping signals (SECURITY S4), kept in Redis:
 * - adjacent numbers: the numbers of one block (a number without its last
 *   digits) that received a code in the last window; a run of close,
 *   sequential numbers at or above the threshold quarantines the block;
 * - conversion: sends and approvals per prefix in two rolling buckets; past a
 *   minimum number of sends, a ratio below the threshold quarantines the prefix.
 * A quarantine is a key holding its reason, with a TTL; the send gates refuse
 * phone sends while it exists.
 */
const OBSERVE = new LuaScript(
  'otp_pump_observe',
  `
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[3])
-- adjacent numbers in the block
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
redis.call('PEXPIRE', KEYS[1], win)
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local nums = {}
for _, m in ipairs(members) do nums[#nums + 1] = tonumber(m) end
table.sort(nums)
local run, best = 1, (#nums > 0) and 1 or 0
for i = 2, #nums do
  if nums[i] - nums[i - 1] <= 2 then run = run + 1 else run = 1 end
  if run > best then best = run end
end
local signal = ''
if best >= tonumber(ARGV[4]) then
  if redis.call('SET', KEYS[6], 'adjacent_numbers: ' .. best .. ' sequential numbers of one block in ' .. ARGV[9], 'PX', ARGV[8], 'NX') then
    signal = 'adjacent'
  end
end
-- conversion per prefix
local sentNow = redis.call('INCR', KEYS[2])
if sentNow == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
local sent = sentNow + tonumber(redis.call('GET', KEYS[3]) or '0')
local verified = tonumber(redis.call('GET', KEYS[4]) or '0') + tonumber(redis.call('GET', KEYS[5]) or '0')
if verified > sent then verified = sent end
if signal == '' and sent >= tonumber(ARGV[6]) and verified / sent < tonumber(ARGV[7]) then
  if redis.call('SET', KEYS[7], 'low_conversion: ' .. verified .. ' of ' .. sent .. ' codes verified', 'PX', ARGV[8], 'NX') then
    signal = 'low_ratio'
  end
end
return {signal, best, sent, verified}
`,
);

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

  /** Records a send to a number and evaluates both signals; may quarantine. */
  observe(keys: PumpKeys, blockIndex: number, nowMs: number): Promise<PumpObservation> {
    return storeCall('limit store', async () => {
      const [sentNow, sentPrev] = this.buckets(nowMs, 's', keys.prefix);
      const [verNow, verPrev] = this.buckets(nowMs, 'v', keys.prefix);
      const s = this.settings;
      const reply = (await OBSERVE.run(
        this.redis,
        [
          `pump:blk:${keys.block}`,
          sentNow,
          sentPrev,
          verNow,
          verPrev,
          quarantineKey('block', keys.block),
          quarantineKey('prefix', keys.prefix),
        ],
        [
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
      )) as [string, number, number, number];
      return {
        signal: reply[0] as PumpObservation['signal'],
        run: Number(reply[1]),
        sent: Number(reply[2]),
        verified: Number(reply[3]),
      };
    });
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
