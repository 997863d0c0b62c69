import type { Redis } from 'ioredis';

export type DedupeVerdict = 'claimed' | 'mine' | 'taken';

const CLAIM = `
local ok = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
if ok then return 'claimed' end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 'mine' end
return 'taken'`;

/** At most one message per dedupeKey: the first message id to claim a key keeps it (SET NX, one round trip). */
export class DedupeStore {
  constructor(
    private readonly redis: Redis,
    private readonly ttlMs: number,
  ) {}

  async claim(dedupeKey: string, messageId: string): Promise<DedupeVerdict> {
    return (await this.redis.eval(
      CLAIM,
      1,
      `dedupe:${dedupeKey}`,
      messageId,
      String(this.ttlMs),
    )) as DedupeVerdict;
  }
}
