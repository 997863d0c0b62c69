import { randomUUID } from 'node:crypto';
import {
  challengeLockedV1,
  checkChallengeV1,
  getChallengeV1,
  notificationDroppedV1,
  notificationFailedV1,
  resendChallengeV1,
  startChallengeV1,
} from '@phonegate/contracts';
import type { DomainError } from '@phonegate/platform';
import { eventually } from '@phonegate/platform/testing';
import { numberBlock } from '../../src/limits/phone-policy';
import { oathtool } from '../support/oathtool';
import { failureOf, startedOtp, usNumber, wrongCode } from '../support/otp-harness';

/** SECURITY C8, S3, S4 and channel fallback, with small limits so the tests stay short. */
describe('otp abuse limits, pumping signals, account lockout and fallback', () => {
  const h = startedOtp({
    OTP_ACCOUNT_FAILURE_LIMIT: '7',
    OTP_AUTO_FALLBACK: 'true',
    OTP_EMAIL_SIGNIN_FALLBACK: 'true',
    OTP_PUMP_RATIO_MIN_SENDS: '10',
    OTP_PUMP_RATIO_THRESHOLD: '0.5',
    OTP_DENIED_COUNTRIES: '234',
    OTP_COUNTRY_DAILY_CEILINGS: '49:3',
  });

  const check = (id: string, code: string) =>
    h.inject('POST', `/v1/verifications/${id}/check`, { code });
  const start = (body: Record<string, unknown>) => h.inject('POST', '/v1/verifications', body);

  const bus = () => h.identity.events;
  /** identity's sign-in challenge for an account (over the bus): its id, reference and code. */
  async function signIn(accountId: string) {
    const ref = randomUUID();
    const { id } = await bus().request(startChallengeV1, {
      purpose: 'sign_in',
      channel: 'sms',
      to: usNumber(),
      accountId,
      ref,
    });
    return { id, ref, code: await h.code(id) };
  }
  /** A bus check's answer: `approved`, or the refusal's code and Retry-After. */
  const busCheck = (c: { id: string; ref: string }, code: string) =>
    bus()
      .request(checkChallengeV1, { challengeId: c.id, code, purpose: 'sign_in', ref: c.ref })
      .then(
        (view) => ({ code: view.status, retryAfter: undefined as unknown }),
        (e: DomainError) => ({ code: e.code, retryAfter: e.extra['retryAfter'] }),
      );
  /** The notifier's report that a send was dropped, for the same challenge as `failed`. */
  const dropOf = (failed: ReturnType<typeof failureOf>, messageId: string) => ({
    ...failed,
    messageId,
    channel: 'voice' as const,
    carrier: null,
    reason: 'expired',
  });
  const failures = async (accountId: string) =>
    Number((await h.runtime.redis.get(`af:${accountId}`)) ?? 0);

  it('locks sign-in for the account after N consecutive failures across challenges; a resend does not reset it; success clears it', async () => {
    const accountId = randomUUID();
    const a = await signIn(accountId);
    for (let i = 0; i < 5; i++) await busCheck(a, wrongCode(a.code));
    const b = await signIn(accountId);
    expect((await busCheck(b, wrongCode(b.code))).code).toBe('code_mismatch');
    h.clock.advance(30_000);
    expect(await bus().request(resendChallengeV1, { challengeId: b.id })).toMatchObject({
      sends: 2,
    });
    const bCode = await h.code(b.id, 2);
    // The seventh failure reaches the limit.
    expect((await busCheck(b, wrongCode(bCode))).code).toBe('code_mismatch');
    expect(await busCheck(b, bCode)).toEqual({ code: 'account_locked', retryAfter: 3600 });
    const blocked = await start({ to: usNumber(), channel: 'sms', purpose: 'sign_in', accountId });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().code).toBe('account_locked');
    const lockAlert = await eventually(() =>
      h
        .alerts('security.lockout')
        .find((x) => x.accountId === accountId && x.variables['scope'] === 'account'),
    );
    expect(lockAlert).toMatchObject({
      channel: 'email',
      priority: 'critical',
      variables: expect.objectContaining({ minutes: 60 }),
    });
    expect(String(lockAlert.variables['at'])).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(h.events(challengeLockedV1).some((e) => e.challengeId === a.id)).toBe(true);

    // Only sign-in is locked; a success elsewhere for the account clears the count.
    const phone = await bus().request(startChallengeV1, {
      purpose: 'phone_verification',
      channel: 'sms',
      to: usNumber(),
      accountId,
    });
    await bus().request(checkChallengeV1, {
      challengeId: phone.id,
      code: await h.code(phone.id),
      purpose: 'phone_verification',
    });
    expect(await failures(accountId)).toBe(0);
    expect((await signIn(accountId)).id).toBeDefined();
  });

  it("a storefront's challenges and enrolments naming the account neither count towards nor clear its failures (C8)", async () => {
    const accountId = randomUUID();
    const a = await signIn(accountId);
    for (let i = 0; i < 5; i++) await busCheck(a, wrongCode(a.code));
    expect(await failures(accountId)).toBe(5);

    // An approved HTTP challenge for the account (the caller chose the account and the number).
    for (const purpose of ['sign_in', 'phone_verification', 'custom']) {
      const shop = await h.startVerification({
        to: usNumber(),
        channel: 'sms',
        purpose,
        accountId,
      });
      expect((await check(shop.id, shop.code)).statusCode).toBe(200);
    }
    expect(await failures(accountId)).toBe(5);
    // Wrong codes on HTTP challenges lock those challenges, not the account.
    const shop = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'step_up',
      accountId,
    });
    const answers = [];
    for (let i = 0; i < 5; i++)
      answers.push((await check(shop.id, wrongCode(shop.code))).statusCode);
    expect(answers).toEqual([422, 422, 422, 422, 429]);
    expect(await failures(accountId)).toBe(5);

    // A TOTP enrolment's confirmation over HTTP, wrong then right.
    const enrolled = (
      await h.inject('POST', `/v1/accounts/${accountId}/authenticators/totp`, {})
    ).json<{ id: string; secret: string }>();
    const confirm = (code: string) =>
      h.inject('POST', `/v1/accounts/${accountId}/authenticators/totp/${enrolled.id}/confirm`, {
        code,
      });
    const totp = oathtool(enrolled.secret, h.clock.nowMs());
    expect((await confirm(wrongCode(totp))).statusCode).toBe(422);
    expect((await confirm(totp)).statusCode).toBe(200);
    expect(await failures(accountId)).toBe(5);

    // The account's own checks still count, and its own success clears them.
    const b = await signIn(accountId);
    expect((await busCheck(b, wrongCode(b.code))).code).toBe('code_mismatch');
    expect(await failures(accountId)).toBe(6);
    expect((await busCheck(b, b.code)).code).toBe('approved');
    expect(await failures(accountId)).toBe(0);
  });

  it("a password reset's wrong codes do not count towards the account's failures; its success clears them", async () => {
    const accountId = randomUUID();
    const a = await signIn(accountId);
    for (let i = 0; i < 3; i++) await busCheck(a, wrongCode(a.code));
    expect(await failures(accountId)).toBe(3);

    const reset = async () => {
      const ref = randomUUID();
      const { id } = await bus().request(startChallengeV1, {
        purpose: 'password_reset',
        channel: 'sms',
        to: usNumber(),
        accountId,
        ref,
      });
      return { id, ref, code: await h.code(id) };
    };
    const resetCheck = (c: { id: string; ref: string }, code: string) =>
      bus()
        .request(checkChallengeV1, {
          challengeId: c.id,
          code,
          purpose: 'password_reset',
          ref: c.ref,
        })
        .then(
          (view) => view.status as string,
          (e: DomainError) => e.code,
        );
    // Anyone who knows the e-mail can start resets: their wrong codes lock the reset, not sign-in.
    const r1 = await reset();
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await resetCheck(r1, wrongCode(r1.code)));
    expect(answers).toEqual([
      'code_mismatch',
      'code_mismatch',
      'code_mismatch',
      'code_mismatch',
      'too_many_attempts',
      'too_many_attempts',
    ]);
    expect(await failures(accountId)).toBe(3);
    // The owner's reset goes through and clears the count, as identity's does.
    const r2 = await reset();
    expect(await resetCheck(r2, r2.code)).toBe('approved');
    expect(await failures(accountId)).toBe(0);
  });

  it('refuses denied calling codes before anything is sent, and applies the per-country daily ceiling', async () => {
    const denied = await start({
      to: '+2348031234567',
      channel: 'sms',
      purpose: 'phone_verification',
    });
    expect(denied.statusCode).toBe(422);
    expect(denied.json()).toMatchObject({ code: 'destination_refused', reason: 'country' });
    const de = ['+4915112345671', '+4915212345672', '+4916012345673', '+4917012345674'];
    const answers = [];
    for (const to of de)
      answers.push(await start({ to, channel: 'sms', purpose: 'phone_verification' }));
    expect(answers.map((a) => a.statusCode)).toEqual([201, 201, 201, 429]);
    expect(answers[3]!.json()).toMatchObject({ code: 'rate_limited', limit: 'country_daily' });
    // Until the end of the UTC day (the clock says 10:00 UTC or a little later).
    const retry = Number(answers[3]!.headers['retry-after']);
    expect(retry).toBeGreaterThan(3600);
    expect(retry).toBeLessThanOrEqual(14 * 3600);
  });

  it('quarantines a block of numbers after a burst of sequential numbers, with the reason in the answer', async () => {
    const numbers = [10, 11, 12, 13, 14, 15, 16].map((n) => `+165025300${n}`);
    const answers = [];
    for (const to of numbers)
      answers.push(await start({ to, channel: 'sms', purpose: 'phone_verification' }));
    // The sixth sequential number raises the signal (that send has gone); the next one is refused.
    expect(answers.map((a) => a.statusCode)).toEqual([201, 201, 201, 201, 201, 201, 429]);
    expect(answers[6]!.json()).toMatchObject({ code: 'prefix_quarantined' });
    expect(answers[6]!.json().detail).toContain('adjacent_numbers');
    expect(Number(answers[6]!.headers['retry-after'])).toBe(3600);
    const later = await start({
      to: '+16502530042',
      channel: 'voice',
      purpose: 'phone_verification',
    });
    expect(later.statusCode).toBe(429);
    expect(later.json().reason).toMatch(/^adjacent_numbers: 6 sequential numbers/);
    // Another block of the same range is not affected.
    expect(
      (await start({ to: '+16502531077', channel: 'sms', purpose: 'phone_verification' }))
        .statusCode,
    ).toBe(201);
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/otp_pumping_signals_total\{[^}]*signal="adjacent"[^}]*\} 1/);
  });

  it('quarantines a prefix whose sent-to-verified ratio falls below the threshold, and exports the ratio', async () => {
    // Distinct blocks of +1 212 555: no adjacency, one prefix "12125".
    const numbers = Array.from(
      { length: 11 },
      (_, i) => `+121255${String(50 + i)}${String(i * 13 + 5).padStart(3, '0')}`,
    );
    const first = await h.startVerification({
      to: numbers[0],
      channel: 'sms',
      purpose: 'phone_verification',
    });
    expect((await check(first.id, first.code)).statusCode).toBe(200);
    const answers = [];
    for (const to of numbers.slice(1))
      answers.push(await start({ to, channel: 'sms', purpose: 'phone_verification' }));
    // The tenth send (1 of 10 verified) raises the signal; the eleventh is refused.
    expect(answers.slice(0, 9).every((a) => a.statusCode === 201)).toBe(true);
    const last = answers[9]!;
    expect(last.statusCode).toBe(429);
    expect(last.json()).toMatchObject({
      code: 'prefix_quarantined',
      reason: 'low_conversion: 1 of 10 codes verified',
    });
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/otp_prefix_verified_ratio\{[^}]*prefix="12125"[^}]*\} 0\.1/);
    expect(metrics).toMatch(/otp_pumping_signals_total\{[^}]*signal="low_ratio"[^}]*\} 1/);
  });

  it('starts and sends the code when the pumping observation fails (it is made in the same Redis step)', async () => {
    const to = '+16502539071';
    const { block } = numberBlock(to, h.config.pumping.blockDigits);
    // A key of the wrong type makes the observation's first command fail inside the script.
    await h.runtime.redis.set(`pump:blk:${block}`, 'not a sorted set');
    const answer = await start({ to, channel: 'sms', purpose: 'phone_verification' });
    expect(answer.statusCode).toBe(201);
    expect(await h.code(answer.json().id)).toMatch(/^\d{6}$/);
    expect(h.logs.text()).toContain('pumping signal not recorded');
    await h.runtime.redis.del(`pump:blk:${block}`);
  });

  it('falls back to the next channel automatically when the notifier reports a failure or a drop (once per send)', async () => {
    const accountId = randomUUID();
    const ref = randomUUID();
    const { id } = await bus().request(startChallengeV1, {
      purpose: 'sign_in',
      channel: 'sms',
      to: usNumber(),
      accountId,
      ref,
    });
    const sms = await h.codeMessage(id, 1);
    const failed = failureOf(sms, id);
    await h.identity.events.publish(notificationFailedV1, failed);
    await h.identity.events.publish(notificationFailedV1, failed);
    const voice = await h.codeMessage(id, 2);
    expect(voice).toMatchObject({ channel: 'voice', to: sms.to });
    const view = await bus().request(getChallengeV1, { challengeId: id });
    expect(view).toMatchObject({ channel: 'voice', sends: 2, status: 'pending' });
    expect(view.delivery).toBeUndefined();
    await h.identity.events.publish(notificationDroppedV1, dropOf(failed, voice.messageId));
    // identity's own sign-in: the account's e-mail (the notifier resolves it).
    const email = await h.codeMessage(id, 3);
    expect(email).toMatchObject({ channel: 'email', accountId });
    expect(email.to).toBeUndefined();
    await new Promise((r) => setTimeout(r, 300));
    expect(h.codeMessages(id)).toHaveLength(3);
    // The code of the latest send works.
    expect((await busCheck({ id, ref }, String(email.variables['code']))).code).toBe('approved');
  });

  it("a storefront's verification falls back only to destinations its caller gave, never to the named account's e-mail", async () => {
    const { id } = await h.shopVerification();
    const sms = await h.codeMessage(id, 1);
    const failed = failureOf(sms, id);
    await h.identity.events.publish(notificationFailedV1, failed);
    const voice = await h.codeMessage(id, 2);
    expect(voice).toMatchObject({ channel: 'voice', to: sms.to });
    await h.identity.events.publish(notificationDroppedV1, dropOf(failed, voice.messageId));
    const view = await eventually(async () => {
      const answer = (await h.inject('GET', `/v1/verifications/${id}`)).json<
        Record<string, unknown>
      >();
      return answer['delivery'] ? answer : undefined;
    });
    expect(view).toMatchObject({
      status: 'pending',
      channel: 'voice',
      sends: 2,
      delivery: { status: 'dropped', channel: 'voice' },
      alternatives: ['sms'],
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(h.codeMessages(id)).toHaveLength(2);
    expect((await check(id, String(voice.variables['code']))).statusCode).toBe(200);
  });
});
