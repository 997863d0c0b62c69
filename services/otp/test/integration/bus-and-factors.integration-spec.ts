import { randomUUID } from 'node:crypto';
import {
  checkChallengeV1,
  getChallengeV1,
  getFactorsV1,
  notificationFailedV1,
  resendChallengeV1,
  startChallengeV1,
  verifyFactorV1,
} from '@phonegate/contracts';
import { DomainError } from '@phonegate/platform';
import { eventually } from '@phonegate/platform/testing';
import { remoteError, startedOtp, usNumber, wrongCode } from '../support/otp-harness';
import { oathtool } from '../support/oathtool';
import { approvedStepUp } from './support/step-up';

describe('otp over the bus (identity commands) and factors (TOTP, backup codes)', () => {
  const h = startedOtp();
  const bus = () => h.identity.events;

  it('start, get, check (wrong, then right) and resend with EventBus.request', async () => {
    const accountId = randomUUID();
    const loginId = randomUUID();
    const started = await bus().request(startChallengeV1, {
      purpose: 'sign_in',
      channel: 'sms',
      to: usNumber(),
      accountId,
      ref: loginId,
      clientIp: '198.51.100.4',
    });
    expect(started).toMatchObject({
      status: 'pending',
      purpose: 'sign_in',
      channel: 'sms',
      attemptsRemaining: 5,
      sends: 1,
    });
    const first = await h.code(started.id);

    h.clock.advance(30_000);
    const resent = await bus().request(resendChallengeV1, {
      challengeId: started.id,
      channel: 'voice',
    });
    expect(resent).toMatchObject({ channel: 'voice', sends: 2 });
    const second = await h.code(started.id, 2);

    const mismatch = await remoteError(
      bus().request(checkChallengeV1, {
        challengeId: started.id,
        code: wrongCode(second),
        purpose: 'sign_in',
        ref: loginId,
      }),
    );
    expect(mismatch).toMatchObject({ code: 'code_mismatch', status: 422 });
    expect(mismatch.extra['attemptsRemaining']).toBe(4);
    if (first !== second) {
      const old = await remoteError(
        bus().request(checkChallengeV1, {
          challengeId: started.id,
          code: first,
          purpose: 'sign_in',
          ref: loginId,
        }),
      );
      expect(old.code).toBe('code_mismatch');
    }
    // Another flow's code cannot finish this one (C6): other purpose, other ref, or no ref.
    for (const wrongBinding of [
      { purpose: 'phone_verification' as const, ref: loginId },
      { purpose: 'step_up' as const, ref: loginId },
      { purpose: 'sign_in' as const, ref: randomUUID() },
      { purpose: 'sign_in' as const },
    ]) {
      const e = await remoteError(
        bus().request(checkChallengeV1, { challengeId: started.id, code: second, ...wrongBinding }),
      );
      expect(e.code).toBe('not_found');
    }
    const approved = await bus().request(checkChallengeV1, {
      challengeId: started.id,
      code: second,
      purpose: 'sign_in',
      ref: loginId,
    });
    expect(approved.status).toBe('approved');
    expect((await bus().request(getChallengeV1, { challengeId: started.id })).status).toBe(
      'approved',
    );
    const missing = await remoteError(bus().request(getChallengeV1, { challengeId: randomUUID() }));
    expect(missing).toMatchObject({ code: 'not_found', status: 404 });
  });

  it("a password reset's start repeated with its reference answers the pending challenge, no second code", async () => {
    const accountId = randomUUID();
    const resetId = randomUUID();
    const to = usNumber();
    const start = (ref: string) =>
      bus().request(startChallengeV1, {
        purpose: 'password_reset',
        channel: 'sms',
        to,
        accountId,
        ref,
      });
    const first = await start(resetId);
    const code = await h.code(first.id);
    // identity's retry after its call timed out (the code went out all the same).
    const again = await start(resetId);
    expect(again).toMatchObject({ id: first.id, status: 'pending', sends: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(h.codeMessages(first.id)).toHaveLength(1);
    // Another reset (another reference) is a challenge of its own.
    const other = await start(randomUUID());
    expect(other.id).not.toBe(first.id);
    // The first code still works.
    const checked = await bus().request(checkChallengeV1, {
      challengeId: first.id,
      code,
      purpose: 'password_reset',
      ref: resetId,
    });
    expect(checked.status).toBe('approved');
    // Once it is used, the same reference starts afresh.
    expect((await start(resetId)).id).not.toBe(first.id);
  });

  it('records a failed delivery, shows it in GET and offers the next channel', async () => {
    const accountId = randomUUID();
    const { id } = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'sign_in',
      accountId,
    });
    const message = await h.codeMessage(id);
    await bus().publish(notificationFailedV1, {
      messageId: message.messageId,
      channel: 'sms',
      carrier: 'smpp-a',
      attempts: 3,
      reason: 'undeliverable',
      origin: { service: 'otp', ref: id },
    });
    const view = await eventually(async () => {
      const v = (await h.inject('GET', `/v1/verifications/${id}`)).json<Record<string, unknown>>();
      return v['delivery'] ? v : undefined;
    });
    // E-mail is not offered for sign-in codes unless configured (weaker factor, SECURITY S7).
    expect(view).toMatchObject({
      status: 'pending',
      delivery: { status: 'failed', channel: 'sms', reason: 'undeliverable' },
      alternatives: ['voice'],
    });
    // Automatic fallback is off by default: nothing else was sent.
    await new Promise((r) => setTimeout(r, 300));
    expect(h.codeMessages(id)).toHaveLength(1);
  });

  it('TOTP: enrolment gives an otpauth URI; a code from oathtool confirms it once; then verifies over the bus once per step', async () => {
    const accountId = randomUUID();
    const enrolled = await h.inject('POST', `/v1/accounts/${accountId}/authenticators/totp`, {
      label: 'ana@example.com',
    });
    expect(enrolled.statusCode).toBe(201);
    expect(enrolled.headers['cache-control']).toBe('no-store');
    const { id, secret, otpauthUri } = enrolled.json();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/); // 160 bits
    const uri = new URL(otpauthUri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.searchParams.get('secret')).toBe(secret);
    expect(uri.searchParams.get('issuer')).toBe('Phonegate');
    expect(await bus().request(getFactorsV1, { accountId })).toEqual({
      totp: false,
      backupCodes: 0,
    });

    const now = h.clock.nowMs();
    const wrong = await h.inject(
      'POST',
      `/v1/accounts/${accountId}/authenticators/totp/${id}/confirm`,
      { code: wrongCode(oathtool(secret, now)) },
    );
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 4 });
    const code = oathtool(secret, now);
    const confirmed = await h.inject(
      'POST',
      `/v1/accounts/${accountId}/authenticators/totp/${id}/confirm`,
      { code },
    );
    expect(confirmed.statusCode).toBe(200);
    expect(confirmed.json()).toEqual({ id, status: 'confirmed' });
    expect(await bus().request(getFactorsV1, { accountId })).toEqual({
      totp: true,
      backupCodes: 0,
    });

    // The step used to confirm cannot be used again: a used code (410), not a wrong one.
    const replay = await remoteError(
      bus().request(verifyFactorV1, { accountId, kind: 'totp', code, purpose: 'sign_in' }),
    );
    expect(replay).toMatchObject({ code: 'code_expired', status: 410 });
    h.clock.advance(30_000);
    const next = oathtool(secret, h.clock.nowMs());
    expect(
      await bus().request(verifyFactorV1, {
        accountId,
        kind: 'totp',
        code: next,
        purpose: 'sign_in',
      }),
    ).toEqual({ approved: true });
    const again = await remoteError(
      bus().request(verifyFactorV1, { accountId, kind: 'totp', code: next, purpose: 'sign_in' }),
    );
    expect(again.code).toBe('code_expired');
    // Two steps away is outside the ±1 window.
    const far = oathtool(secret, h.clock.nowMs() + 90_000);
    expect(
      (
        await remoteError(
          bus().request(verifyFactorV1, { accountId, kind: 'totp', code: far, purpose: 'step_up' }),
        )
      ).code,
    ).toBe('code_mismatch');

    const unknown = await h.inject(
      'POST',
      `/v1/accounts/${accountId}/authenticators/totp/${randomUUID()}/confirm`,
      { code },
    );
    expect(unknown.statusCode).toBe(404);
    const notReady = await remoteError(
      bus().request(verifyFactorV1, {
        accountId: randomUUID(),
        kind: 'totp',
        code,
        purpose: 'sign_in',
      }),
    );
    expect(notReady).toMatchObject({ code: 'factor_not_ready', status: 409 });
  });

  it('TOTP: two concurrent uses of one code, one succeeds', async () => {
    const accountId = randomUUID();
    const { id, secret } = (
      await h.inject('POST', `/v1/accounts/${accountId}/authenticators/totp`, {})
    ).json();
    const now = h.clock.nowMs();
    expect(
      (
        await h.inject('POST', `/v1/accounts/${accountId}/authenticators/totp/${id}/confirm`, {
          code: oathtool(secret, now - 30_000),
        })
      ).statusCode,
    ).toBe(200);
    const code = oathtool(secret, now);
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, () =>
        bus().request(verifyFactorV1, { accountId, kind: 'totp', code, purpose: 'sign_in' }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('backup codes: 10 shown once, each works once, a new set revokes the old', async () => {
    const accountId = randomUUID();
    const first = await h.inject('POST', `/v1/accounts/${accountId}/backup-codes`, undefined);
    expect(first.statusCode).toBe(201);
    expect(first.headers['cache-control']).toBe('no-store');
    const codes: string[] = first.json().codes;
    expect(codes).toHaveLength(10);
    expect(codes.every((c) => c.replace('-', '').length >= 10)).toBe(true);
    expect(await bus().request(getFactorsV1, { accountId })).toEqual({
      totp: false,
      backupCodes: 10,
    });

    const one = codes[0] as string;
    expect(
      await bus().request(verifyFactorV1, {
        accountId,
        kind: 'backup_code',
        code: one.toUpperCase(),
        purpose: 'sign_in',
      }),
    ).toEqual({ approved: true });
    expect(
      (
        await remoteError(
          bus().request(verifyFactorV1, {
            accountId,
            kind: 'backup_code',
            code: one,
            purpose: 'sign_in',
          }),
        )
      ).code,
    ).toBe('code_expired');
    expect(await bus().request(getFactorsV1, { accountId })).toEqual({
      totp: false,
      backupCodes: 9,
    });

    // A new set needs a step-up of the account (S8).
    const second = (
      await h.inject('POST', `/v1/accounts/${accountId}/backup-codes`, {
        stepUpId: await approvedStepUp(h, accountId),
      })
    ).json().codes as string[];
    const old = await remoteError(
      bus().request(verifyFactorV1, {
        accountId,
        kind: 'backup_code',
        code: codes[1] as string,
        purpose: 'sign_in',
      }),
    );
    expect(old.code).toBe('code_mismatch');
    expect(
      await bus().request(verifyFactorV1, {
        accountId,
        kind: 'backup_code',
        code: second[1] as string,
        purpose: 'step_up',
      }),
    ).toEqual({ approved: true });
    const none = await remoteError(
      bus().request(verifyFactorV1, {
        accountId: randomUUID(),
        kind: 'backup_code',
        code: one,
        purpose: 'sign_in',
      }),
    );
    expect(none.code).toBe('factor_not_ready');
  });

  it("a sign-in finished with a backup code restarts the count of codes sent since the last sign-in (no false 'not you?' alert)", async () => {
    const accountId = randomUUID();
    const codes: string[] = (
      await h.inject('POST', `/v1/accounts/${accountId}/backup-codes`, undefined)
    ).json().codes;
    const signInCode = () =>
      bus().request(startChallengeV1, {
        purpose: 'sign_in',
        channel: 'sms',
        to: usNumber(),
        accountId,
        ref: randomUUID(),
      });
    const unrequested = async () => Number((await h.runtime.redis.get(`unreq:${accountId}`)) ?? 0);
    /** Two sign-in codes the owner did not use, then a backup code for `purpose`: the count after. */
    const twoCodesThen = async (purpose: 'sign_in' | 'step_up', code: string) => {
      await signInCode();
      await signInCode();
      await bus().request(verifyFactorV1, { accountId, kind: 'backup_code', code, purpose });
      return unrequested();
    };
    // The owner got the codes but signed in with a backup code instead.
    expect(await twoCodesThen('sign_in', codes[0] as string)).toBe(0);
    // A step-up is not a sign-in: the count stays.
    expect(await twoCodesThen('step_up', codes[1] as string)).toBe(2);
    expect(h.alerts('security.unrequested_codes').some((a) => a.accountId === accountId)).toBe(
      false,
    );
  });

  it('limits factor attempts per account (5 per 5 minutes): 429 too_many_attempts with Retry-After', async () => {
    const accountId = randomUUID();
    await h.inject('POST', `/v1/accounts/${accountId}/backup-codes`, undefined);
    const tries = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        bus().request(verifyFactorV1, {
          accountId,
          kind: 'backup_code',
          code: 'zzzzz-zzzzz',
          purpose: 'sign_in',
        }),
      ),
    );
    const codes = tries.map((t) =>
      t.status === 'rejected' ? (t.reason as DomainError).code : 'ok',
    );
    expect(codes.filter((c) => c === 'code_mismatch')).toHaveLength(5);
    expect(codes.filter((c) => c === 'too_many_attempts')).toHaveLength(15);
    const limited = tries.find(
      (t) => t.status === 'rejected' && (t.reason as DomainError).code === 'too_many_attempts',
    ) as PromiseRejectedResult;
    expect((limited.reason as DomainError).extra['retryAfter']).toBe(300);
  });

  it('answers 401/403 on the factor routes and 404 for a malformed account id', async () => {
    const accountId = randomUUID();
    expect(
      (await h.inject('POST', `/v1/accounts/${accountId}/backup-codes`, undefined, {})).statusCode,
    ).toBe(401);
    expect(
      (
        await h.inject(
          'POST',
          `/v1/accounts/${accountId}/authenticators/totp`,
          {},
          { authorization: 'Bearer ops-test-key' },
        )
      ).statusCode,
    ).toBe(403);
    expect((await h.inject('POST', '/v1/accounts/nope/backup-codes', undefined)).statusCode).toBe(
      404,
    );
  });
});
