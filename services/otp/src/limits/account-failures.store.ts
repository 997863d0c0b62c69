import { unrequestedKeys } from '../alerts/account-signals.store';
import type { Redis } from 'ioredis';
import { LuaScript, storeCall } from '../redis/lua-script';

const FAIL = new LuaScript(
  'otp_account_fail',
  `
local n = redis.call('INCR', KEYS[1])
local limit = tonumber(ARGV[1])
if n == limit then redis.call('PEXPIRE', KEYS[1], ARGV[3])
elseif n < limit then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {n, redis.call('PTTL', KEYS[1])}
`,
);

/** The account key the challenge check script shares (SECURITY C8). */
export const accountFailureKey = (accountId: string) => `af:${accountId}`;

/**
 * Consecutive failures of an account across challenges and factors (C8): each
 * failure adds one (the window restarts), reaching the limit locks sign-in for
 * the lock duration, any success clears it. Challenge checks do the same
 * inside their own script.
 */
export class AccountFailures {
  constructor(
    private readonly redis: Redis,
    private readonly settings: { failureLimit: number; failureWindowMs: number; lockMs: number },
  ) {}

  fail(accountId: string): Promise<{ failures: number; ttlMs: number }> {
    return storeCall('code store', async () => {
      const [n, ttl] = (await FAIL.run(
        this.redis,
        [accountFailureKey(accountId)],
        [this.settings.failureLimit, this.settings.failureWindowMs, this.settings.lockMs],
      )) as [number, number];
      return { failures: Number(n), ttlMs: Math.max(0, Number(ttl)) };
    });
  }

  clear(accountId: string): Promise<void> {
    return storeCall('code store', async () => {
      await this.redis.del(accountFailureKey(accountId));
    });
  }

  /**
   * A sign-in passed its second factor (an authenticator or a backup code): the failure count
   * and the count of sign-in codes sent since the last sign-in start again, as an approved
   * sign-in code does (the codes sent before were the owner's, who chose another factor).
   */
  signedIn(accountId: string): Promise<void> {
    return storeCall('code store', async () => {
      await this.redis.del(accountFailureKey(accountId), ...unrequestedKeys(accountId));
    });
  }
}
