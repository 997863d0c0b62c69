import type { Redis } from 'ioredis';
import { LuaScript, storeCall } from '../redis/lua-script';

const NOTE = new LuaScript(
  'otp_unrequested',
  `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n >= tonumber(ARGV[1]) and redis.call('SET', KEYS[2], '1', 'PX', ARGV[2], 'NX') then return n end
return 0
`,
);

export const unrequestedKeys = (accountId: string): [string, string] => [
  `unreq:${accountId}`,
  `unreq:alerted:${accountId}`,
];

/**
 * Sign-in codes sent to an account since its last successful sign-in. Past a
 * threshold the owner is told once per window ("someone is asking for codes").
 */
export class AccountSignals {
  constructor(
    private readonly redis: Redis,
    private readonly threshold: number,
    private readonly windowMs: number,
  ) {}

  /** Counts a sign-in code; returns the count when an alert is due now, else 0. */
  noteSignInCode(accountId: string): Promise<number> {
    return storeCall('code store', async () =>
      Number(
        await NOTE.run(this.redis, unrequestedKeys(accountId), [this.threshold, this.windowMs]),
      ),
    );
  }

  /** A successful sign-in: the count starts again. */
  clear(accountId: string): Promise<void> {
    return storeCall('code store', async () => {
      await this.redis.del(...unrequestedKeys(accountId));
    });
  }
}
