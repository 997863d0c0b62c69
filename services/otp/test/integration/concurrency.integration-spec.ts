import { randomUUID } from 'node:crypto';
import { startedOtp, usNumber, wrongCode } from '../support/otp-harness';

/** SECURITY C5, C7, S1: the atomic steps hold under parallel requests. */
describe('otp under concurrency (real Redis)', () => {
  const h = startedOtp({ OTP_LIMIT_IP: '5/15m' });

  const check = (id: string, code: string) =>
    h.inject('POST', `/v1/verifications/${id}/check`, { code });

  it('100 concurrent checks of the right code: exactly one approval', async () => {
    const { id, code } = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'phone_verification',
    });
    const answers = await Promise.all(Array.from({ length: 100 }, () => check(id, code)));
    const statuses = answers.map((a) => a.statusCode);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 410)).toHaveLength(99);
  });

  it('50 concurrent submissions of the right code over the bus: exactly one success', async () => {
    // identity's challenge: one started over the bus (the bus reaches only those).
    const { checkChallengeV1, startChallengeV1 } = await import('@phonegate/contracts');
    const { id } = await h.identity.events.request(startChallengeV1, {
      to: usNumber(),
      channel: 'sms',
      purpose: 'sign_in',
      ref: 'login-1',
    });
    const code = await h.code(id);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () =>
        h.identity.events.request(checkChallengeV1, {
          challengeId: id,
          code,
          purpose: 'sign_in',
          ref: 'login-1',
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const codes = results.flatMap((r) =>
      r.status === 'rejected' ? [(r.reason as { code: string }).code] : [],
    );
    expect(new Set(codes)).toEqual(new Set(['code_expired']));
  });

  it('1,000 concurrent wrong guesses: locked after exactly 5 counted attempts; the right code is then refused', async () => {
    const { id, code } = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'phone_verification',
    });
    const answers = await Promise.all(
      Array.from({ length: 1000 }, () => check(id, wrongCode(code))),
    );
    const mismatches = answers.filter((a) => a.statusCode === 422);
    const locked = answers.filter((a) => a.statusCode === 429);
    expect(mismatches).toHaveLength(4);
    expect(locked).toHaveLength(996);
    expect(
      new Set(mismatches.map((a) => a.json<{ attemptsRemaining: number }>().attemptsRemaining)),
    ).toEqual(new Set([4, 3, 2, 1]));
    expect(
      locked.every((a) => a.json().code === 'too_many_attempts' && a.headers['retry-after']),
    ).toBe(true);
    const right = await check(id, code);
    expect(right.statusCode).toBe(429);
    expect((await h.inject('GET', `/v1/verifications/${id}`)).json()).toMatchObject({
      status: 'locked',
      attemptsRemaining: 0,
    });
  });

  it('a race of right and wrong codes never grants more than the 5 attempts', async () => {
    const { id, code } = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'phone_verification',
    });
    const mixed = Array.from({ length: 200 }, (_, i) => (i === 150 ? code : wrongCode(code)));
    const answers = await Promise.all(mixed.map((c) => check(id, c)));
    const approved = answers.filter((a) => a.statusCode === 200).length;
    // At most four answers say "wrong" (the fifth wrong one locks), at most one approves.
    expect(answers.filter((a) => a.statusCode === 422).length).toBeLessThanOrEqual(4);
    expect(approved).toBeLessThanOrEqual(1);
    const final = (await h.inject('GET', `/v1/verifications/${id}`)).json();
    expect(final.status).toBe(approved ? 'approved' : 'locked');
  });

  it('100 parallel starts to one number under a limit of 5: exactly 5 get through, the rest 429 with Retry-After', async () => {
    const to = usNumber();
    const answers = await Promise.all(
      Array.from({ length: 100 }, () =>
        h.inject('POST', '/v1/verifications', {
          to,
          channel: 'sms',
          purpose: 'phone_verification',
        }),
      ),
    );
    expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(5);
    const limited = answers.filter((a) => a.statusCode === 429);
    expect(limited).toHaveLength(95);
    for (const a of limited) {
      expect(a.json()).toMatchObject({ code: 'rate_limited', limit: 'destination' });
      expect(Number(a.headers['retry-after'])).toBe(15 * 60);
    }
  });

  it('per-IP limit (5/15m here) holds across destinations under parallel requests', async () => {
    const clientIp = '203.0.113.9';
    const answers = await Promise.all(
      Array.from({ length: 40 }, () =>
        h.inject('POST', '/v1/verifications', {
          to: usNumber(),
          channel: 'sms',
          purpose: 'custom',
          clientIp,
          accountId: randomUUID(),
        }),
      ),
    );
    expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(5);
    expect(answers.filter((a) => a.statusCode === 429 && a.json().limit === 'ip')).toHaveLength(35);
  });
});
