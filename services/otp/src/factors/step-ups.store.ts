import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LuaScript, storeCall } from '../redis/lua-script';

export interface StepUpRequest {
  accountId: string;
  /** The id of the step-up verification (an otp challenge id). */
  challengeId: string;
  nowMs: number;
  /** How long after its approval a step-up may be used (5 minutes, config `stepUpWindowMs`). */
  windowMs: number;
  /** The taker's token (a fresh one when not given): the same take retried with it is taken again, only it gives back. */
  token?: string;
}

/** A step-up taken for one change: give it back if the change does not go through. */
export interface TakenStepUp {
  challengeId: string;
  token: string;
}

export type StepUpRefusal = 'unknown' | 'not_approved' | 'stale' | 'spent';

/** The step-ups a factor change must show (SECURITY S8), each used once. */
export interface StepUps {
  take(request: StepUpRequest): Promise<TakenStepUp | StepUpRefusal>;
  /** True when the mark was the taker's and is gone; false when it was not held by this token. */
  giveBack(taken: TakenStepUp): Promise<boolean>;
}

/*
 * Reads the challenge's hash as the challenge store keeps it (`ch:<id>`, see
 * challenges/challenge.store.ts) and, when it is identity's step-up of this
 * account, approved within the window and not used yet, marks it used
 * (`stepup:used:<id>`, for twice the window: the approval's age is read on another
 * instance's clock than the one that may take it next) in the same step: of
 * concurrent changes given the same step-up exactly one gets it, whether made
 * here (a factor replaced) or at identity (which takes it with
 * `otp.step_up.take.v1` before its own change: S8, one approval, one change).
 * The mark already held by the same token is the same take retried. An approved
 * challenge stays approved (nothing turns it back), so its fields cannot change
 * under the mark. Only a challenge started over the bus counts: identity sends a
 * step-up to the account's own factor; a storefront's HTTP verification went to
 * whatever address the storefront gave, so it proves nothing about the account.
 */
const TAKE = new LuaScript(
  'otp_step_up_take',
  `
local f = redis.call('HMGET', KEYS[1], 'purpose', 'status', 'accountId', 'approvedAt', 'origin')
if f[1] ~= 'step_up' or f[3] ~= ARGV[1] or f[5] == 'http' then return 'unknown' end
if f[2] ~= 'approved' then return 'not_approved' end
local at, now, window = tonumber(f[4]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not at or now - at > window then return 'stale' end
if not redis.call('SET', KEYS[2], ARGV[4], 'NX', 'PX', 2 * window) then
  if redis.call('GET', KEYS[2]) == ARGV[4] then return 'ok' end
  return 'spent'
end
return 'ok'
`,
);

/** DEL of the mark while it holds ARGV[1] (its taker's token): 1 when given back, else 0. */
const GIVE_BACK = new LuaScript(
  'otp_step_up_give_back',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);

const challengeKey = (id: string) => `ch:${id}`;
const usedKey = (id: string) => `stepup:used:${id}`;

export class RedisStepUps implements StepUps {
  constructor(private readonly redis: Redis) {}

  take(r: StepUpRequest): Promise<TakenStepUp | StepUpRefusal> {
    return storeCall('code store', async () => {
      const token = r.token ?? randomUUID();
      const outcome = (await TAKE.run(
        this.redis,
        [challengeKey(r.challengeId), usedKey(r.challengeId)],
        [r.accountId, r.nowMs, r.windowMs, token],
      )) as 'ok' | StepUpRefusal;
      return outcome === 'ok' ? { challengeId: r.challengeId, token } : outcome;
    });
  }

  giveBack(taken: TakenStepUp): Promise<boolean> {
    return storeCall('code store', async () => {
      return (await GIVE_BACK.run(this.redis, [usedKey(taken.challengeId)], [taken.token])) === 1;
    });
  }
}
