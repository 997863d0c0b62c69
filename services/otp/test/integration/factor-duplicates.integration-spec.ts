import { randomUUID } from 'node:crypto';
import { verifyFactorV1 } from '@phonegate/contracts';
import { DomainError } from '@phonegate/platform';
import { oathtool } from '../support/oathtool';
import { startedOtp, wrongCode } from '../support/otp-harness';

/**
 * A right TOTP or backup code submitted twice at once (a double tap): one approval, and the
 * duplicate is answered as a used code (410 code_expired, as a used challenge code is), without
 * spending an attempt or counting towards the account's failures (C5, C8, C10, C11).
 */
describe('otp: duplicate submissions of a right factor code', () => {
  const h = startedOtp();
  const COPIES = 4;

  const verify = (accountId: string, kind: 'totp' | 'backup_code', code: string) =>
    h.identity.events.request(verifyFactorV1, { accountId, kind, code, purpose: 'sign_in' }).then(
      () => 'approved',
      (error: unknown) => {
        if (error instanceof DomainError) return error.code;
        throw error;
      },
    );

  /** The account's failure count (C8) and the attempts a wrong code leaves afterwards. */
  const attemptsLeft = async (accountId: string, kind: 'totp' | 'backup_code', code: string) => {
    try {
      await h.identity.events.request(verifyFactorV1, {
        accountId,
        kind,
        code,
        purpose: 'sign_in',
      });
    } catch (error) {
      if (error instanceof DomainError && error.code === 'code_mismatch')
        return error.extra['attemptsRemaining'];
      throw error;
    }
    throw new Error('the wrong code was accepted');
  };
  const failures = async (accountId: string) =>
    Number((await h.runtime.redis.get(`af:${accountId}`)) ?? 0);

  async function confirmedTotp(accountId: string): Promise<string> {
    const { id, secret } = (
      await h.inject('POST', `/v1/accounts/${accountId}/authenticators/totp`, {})
    ).json<{ id: string; secret: string }>();
    const confirmed = await h.inject(
      'POST',
      `/v1/accounts/${accountId}/authenticators/totp/${id}/confirm`,
      { code: oathtool(secret, h.clock.nowMs() - 30_000) },
    );
    expect(confirmed.statusCode).toBe(200);
    return secret;
  }

  it('TOTP over the bus: one approval, the copies are code_expired and spend nothing', async () => {
    const accountId = randomUUID();
    const secret = await confirmedTotp(accountId);
    const code = oathtool(secret, h.clock.nowMs());
    const answers = await Promise.all(
      Array.from({ length: COPIES }, () => verify(accountId, 'totp', code)),
    );
    expect(answers.filter((a) => a === 'approved')).toHaveLength(1);
    expect(answers.filter((a) => a !== 'approved')).toEqual(
      Array.from({ length: COPIES - 1 }, () => 'code_expired'),
    );
    // A later copy (the same step again) is the same answer.
    expect(await verify(accountId, 'totp', code)).toBe('code_expired');
    expect(await failures(accountId)).toBe(0);
    // The attempt window (5) is untouched: a wrong code now is the first one.
    expect(await attemptsLeft(accountId, 'totp', wrongCode(code))).toBe(4);
    expect(await failures(accountId)).toBe(1);
  });

  it('backup code over the bus: one approval, the copies are code_expired and spend nothing', async () => {
    const accountId = randomUUID();
    const codes = (
      await h.inject('POST', `/v1/accounts/${accountId}/backup-codes`, undefined)
    ).json<{
      codes: string[];
    }>().codes;
    const code = codes[0] as string;
    const answers = await Promise.all(
      Array.from({ length: COPIES }, () => verify(accountId, 'backup_code', code)),
    );
    expect(answers.filter((a) => a === 'approved')).toHaveLength(1);
    expect(answers.filter((a) => a !== 'approved')).toEqual(
      Array.from({ length: COPIES - 1 }, () => 'code_expired'),
    );
    expect(await verify(accountId, 'backup_code', code)).toBe('code_expired');
    expect(await failures(accountId)).toBe(0);
    expect(await attemptsLeft(accountId, 'backup_code', 'zzzzz-zzzzz')).toBe(4);
    // The last unused code used twice at once: the copy is still "used", not "no codes left".
    const rest = codes.slice(1);
    for (const c of rest.slice(0, -1))
      expect(await verify(accountId, 'backup_code', c)).toBe('approved');
    const last = rest[rest.length - 1] as string;
    const lastAnswers = await Promise.all([
      verify(accountId, 'backup_code', last),
      verify(accountId, 'backup_code', last),
    ]);
    expect(lastAnswers.sort()).toEqual(['approved', 'code_expired']);
  });

  it('TOTP confirmation over HTTP: one 200, the copies 410 code_expired, no attempt spent', async () => {
    const accountId = randomUUID();
    const { id, secret } = (
      await h.inject('POST', `/v1/accounts/${accountId}/authenticators/totp`, {})
    ).json<{ id: string; secret: string }>();
    const code = oathtool(secret, h.clock.nowMs());
    const answers = await Promise.all(
      Array.from({ length: COPIES }, () =>
        h.inject('POST', `/v1/accounts/${accountId}/authenticators/totp/${id}/confirm`, { code }),
      ),
    );
    expect(answers.filter((a) => a.statusCode === 200)).toHaveLength(1);
    const copies = answers.filter((a) => a.statusCode !== 200);
    expect(copies.map((a) => [a.statusCode, a.json<{ code: string }>().code])).toEqual(
      Array.from({ length: COPIES - 1 }, () => [410, 'code_expired']),
    );
    expect(await attemptsLeft(accountId, 'totp', wrongCode(code))).toBe(4);
  });
});
