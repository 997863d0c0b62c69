import { randomUUID } from 'node:crypto';
import {
  checkChallengeV1,
  getFactorsV1,
  giveBackStepUpV1,
  startChallengeV1,
  takeStepUpV1,
} from '@phonegate/contracts';
import { dropRedisPrefix, redisPrefix } from '@phonegate/platform/testing';
import { Redis } from 'ioredis';
import { RedisStepUps } from '../../src/factors/step-ups.store';
import { remoteError, startedOtp, usNumber } from '../support/otp-harness';
import { approvedStepUp } from './support/step-up';

/**
 * S8: one approved step-up code allows one change. identity spends its step-up here
 * (`otp.step_up.take.v1`) before a change of its own; it is the same take a factor change makes
 * with the challenge id as stepUpId, so whichever comes first gets it, once.
 */
describe('identity takes its step-up at otp: one approval, one change, here or there (S8)', () => {
  const h = startedOtp();
  const bus = () => h.identity.events;

  const take = (accountId: string, challengeId: string, token: string = randomUUID()) =>
    bus().request(takeStepUpV1, { accountId, challengeId, token });
  const refusal = async (promise: Promise<unknown>) => {
    const error = await remoteError(promise);
    return `${error.status} ${error.code}`;
  };
  const reissue = (accountId: string, stepUpId?: string) =>
    h.inject('POST', `/v1/accounts/${accountId}/backup-codes`, stepUpId ? { stepUpId } : {});
  /** An account with its first set of backup codes (free): a new set needs a step-up. */
  const account = async () => {
    const accountId = randomUUID();
    expect((await reissue(accountId)).statusCode).toBe(201);
    return accountId;
  };

  it('taken by identity, the step-up is refused to a factor change; the same take retried is answered the same', async () => {
    const accountId = await account();
    const challengeId = await approvedStepUp(h, accountId);
    const token = randomUUID();

    expect(await take(accountId, challengeId, token)).toEqual({ challengeId, taken: true });

    const refused = await reissue(accountId, challengeId);
    expect({ status: refused.statusCode, code: refused.json().code }).toEqual({
      status: 403,
      code: 'step_up_required',
    });
    // The same take again (a redelivered request): the same answer. Another take: refused.
    expect(await take(accountId, challengeId, token)).toEqual({ challengeId, taken: true });
    expect(await refusal(take(accountId, challengeId))).toBe('403 step_up_required');
  });

  it('used by a factor change first, the step-up is refused to identity', async () => {
    const accountId = await account();
    const challengeId = await approvedStepUp(h, accountId);

    expect((await reissue(accountId, challengeId)).statusCode).toBe(201);

    expect(await refusal(take(accountId, challengeId))).toBe('403 step_up_required');
  });

  it('given back with its token (the change at identity failed), a factor change can use it; another token gives nothing back', async () => {
    const accountId = await account();
    const challengeId = await approvedStepUp(h, accountId);
    const token = randomUUID();
    await take(accountId, challengeId, token);

    expect(await bus().request(giveBackStepUpV1, { challengeId, token: randomUUID() })).toEqual({
      givenBack: false,
    });
    expect((await reissue(accountId, challengeId)).statusCode).toBe(403);

    expect(await bus().request(giveBackStepUpV1, { challengeId, token })).toEqual({
      givenBack: true,
    });
    expect(await bus().request(giveBackStepUpV1, { challengeId, token })).toEqual({
      givenBack: false,
    });
    expect((await reissue(accountId, challengeId)).statusCode).toBe(201);
    // Used by the factor change: a late give-back of identity's take does not free it.
    expect(await bus().request(giveBackStepUpV1, { challengeId, token })).toEqual({
      givenBack: false,
    });
    expect(await refusal(take(accountId, challengeId))).toBe('403 step_up_required');
  });

  it('refuses what is not a fresh approved step-up of the account by identity, and marks nothing', async () => {
    const accountId = await account();
    // Of another account.
    const other = await approvedStepUp(h, randomUUID());
    expect(await refusal(take(accountId, other))).toBe('403 step_up_required');
    // Not approved yet.
    const ref = randomUUID();
    const pending = await bus().request(startChallengeV1, {
      purpose: 'step_up',
      channel: 'sms',
      to: usNumber(),
      accountId,
      ref,
    });
    expect(await refusal(take(accountId, pending.id))).toBe('403 step_up_required');
    // A storefront's own step-up verification, approved.
    const shop = await h.inject('POST', '/v1/verifications', {
      to: usNumber(),
      channel: 'sms',
      purpose: 'step_up',
      accountId,
    });
    const shopId: string = shop.json().id;
    expect(
      (await h.inject('POST', `/v1/verifications/${shopId}/check`, { code: await h.code(shopId) }))
        .statusCode,
    ).toBe(200);
    expect(await refusal(take(accountId, shopId))).toBe('403 step_up_required');
    // Unknown.
    expect(await refusal(take(accountId, randomUUID()))).toBe('403 step_up_required');

    // The pending one, approved now, is usable once: its refusal marked nothing.
    await bus().request(checkChallengeV1, {
      challengeId: pending.id,
      code: await h.code(pending.id),
      purpose: 'step_up',
      ref,
    });
    expect(await take(accountId, pending.id)).toEqual({ challengeId: pending.id, taken: true });

    // Approved more than 5 minutes ago.
    const stale = await approvedStepUp(h, accountId);
    h.clock.advance(5 * 60_000 + 1000);
    expect(await refusal(take(accountId, stale))).toBe('403 step_up_required');
  });

  it('of concurrent takes by identity and factor changes given one step-up, exactly one gets it', async () => {
    const accountId = await account();
    const challengeId = await approvedStepUp(h, accountId);
    const outcomes = await Promise.all([
      ...Array.from({ length: 6 }, () =>
        take(accountId, challengeId).then(
          () => 'taken',
          (error: unknown) => (error as { code?: string }).code,
        ),
      ),
      ...Array.from({ length: 6 }, () =>
        reissue(accountId, challengeId).then((r) =>
          r.statusCode === 201 ? 'taken' : r.json<{ code: string }>().code,
        ),
      ),
    ]);
    expect(outcomes.filter((o) => o === 'taken')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'step_up_required')).toHaveLength(11);
    expect(await bus().request(getFactorsV1, { accountId })).toEqual({
      totp: false,
      backupCodes: 10,
    });
  });
});

/**
 * The used mark outlives the approval's window on any otp instance's clock: staleness is judged
 * from `approvedAt` (the approving instance's clock) against the taking instance's clock, so an
 * instance a little behind still sees the step-up as fresh after the window measured from the take.
 */
describe('a taken step-up stays spent for an otp instance whose clock is behind', () => {
  const prefix = redisPrefix();
  const redis = new Redis('redis://127.0.0.1:6379', { keyPrefix: prefix });

  afterAll(async () => {
    redis.disconnect();
    await dropRedisPrefix(prefix);
  });

  it('refuses the second take after the window has passed from the first', async () => {
    const stepUps = new RedisStepUps(redis);
    const accountId = randomUUID();
    const challengeId = randomUUID();
    const windowMs = 1_000;
    const approvedAt = Date.now();
    await redis.hset(`ch:${challengeId}`, {
      purpose: 'step_up',
      status: 'approved',
      accountId,
      approvedAt: String(approvedAt),
      origin: 'bus',
    });
    const token = randomUUID();
    expect(
      await stepUps.take({ accountId, challengeId, nowMs: Date.now(), windowMs, token }),
    ).toEqual({ challengeId, token });
    await new Promise((resolve) => setTimeout(resolve, windowMs + 100));
    // Another instance, 300 ms behind: to it the approval is still within its window.
    const behind = Date.now() - 300;
    expect(behind - approvedAt).toBeLessThanOrEqual(windowMs);
    expect(await stepUps.take({ accountId, challengeId, nowMs: behind, windowMs })).toBe('spent');
  });
});
