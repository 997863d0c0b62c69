import type { Redis } from 'ioredis';
import type { PendingLogin } from '../../src/sessions/login.store';
import { JsonStore } from '../../src/shared/json-store';
import { IDENTITY_REDIS } from '../../src/tokens';
import { Harness, type HttpAnswer, sleep, type Tapped } from './support/harness';

jest.setTimeout(90_000);

const COOLDOWN_MS = 4_000;

/**
 * A sign-in's resend sends at most one code at a time, whichever path it takes: two
 * resends at once after the primary number changed send one code (not two, the first
 * of which might not verify), and the one sent signs in; a pending login stored before
 * the login kept its challenge's number (no `challengePhoneId`) resends its challenge
 * under otp's cooldown like before, and starts a new one only when the number changed;
 * switching the primary number back and forth does not skip the cooldown. Over HTTP
 * against identity, with real PostgreSQL, Redis, RabbitMQ and the otp service as a process.
 */
describe('identity: a sign-in resend sends one code at a time', () => {
  const h = new Harness();
  let logins: JsonStore<PendingLogin>;
  let seq = 1;

  beforeAll(async () => {
    // A steady cooldown long enough that "inside the cooldown" is not a race with the clock.
    await h.start({
      otpEnv: { OTP_RESEND_COOLDOWN: `${COOLDOWN_MS}ms`, OTP_RESEND_COOLDOWN_MAX: `${COOLDOWN_MS}ms` },
    });
    logins = new JsonStore<PendingLogin>(h.app.get<Redis>(IDENTITY_REDIS), 'login');
  }, 120_000);

  afterAll(() => h.close(), 60_000);

  const phonesUrl = (accountId: string) => `/v1/accounts/${accountId}/phones`;
  const resendUrl = (loginId: string) => `/v1/sessions/${loginId}/resend`;

  /** Sign-in codes (with a code) sent since `since`. */
  const signInCodes = (since: number): Tapped[] =>
    h.tap
      .of('notification.requested.v1')
      .filter((t) => t.at >= since && t.data['template'] === 'otp.sign_in' && typeof (t.data['variables'] as { code?: unknown } | undefined)?.code === 'string');

  const codeOf = (t: Tapped) => h.keep(String((t.data['variables'] as { code: unknown }).code));

  const signInWith = async (loginId: string, code: string) =>
    (await h.call('POST', `/v1/sessions/${loginId}/verify`, { code })).status;

  const untilResendable = (challenge: { resendAvailableAt: string }) =>
    sleep(Math.max(0, Date.parse(challenge.resendAvailableAt) - Date.now()) + 100);

  /** An account with a verified number, two-step by SMS, and a challenged sign-in whose first code went out. */
  async function challengedSignIn() {
    const a = await h.account();
    const phone = await h.verifiedPhone(a.id);
    await h.twoStep(a.id, { method: 'sms', backupMethod: 'email' });
    const device = { id: `dev-once-${seq}`, name: 'Test phone', ip: `10.9.0.${seq++}` };
    const since = Date.now();
    const started = await h.call('POST', '/v1/sessions', { email: a.email, password: a.password, device });
    expect(started.status).toBe(202);
    const firstCode = await h.codeTo(phone.number, since, 'otp.sign_in');
    return { ...a, phone, loginId: String(started.body.loginId), started, firstCode };
  }

  /** Changes the number to a new one and verifies it: the new number is primary. */
  async function changeNumber(accountId: string, phoneId: string): Promise<{ phoneId: string; number: string }> {
    const next = h.phone();
    // A verified number's change needs a step-up (S8).
    const changed = await h.call('PUT', `${phonesUrl(accountId)}/${phoneId}`, { number: next, stepUpId: await h.stepUp(accountId) });
    expect(changed.status).toBe(202);
    const code = await h.codeFor(changed.body.verification.challengeId);
    const verified = await h.call('POST', `${phonesUrl(accountId)}/${changed.body.phoneId}/verify`, { code });
    expect({ status: verified.status, primary: verified.body.primary }).toEqual({ status: 200, primary: true });
    return { phoneId: changed.body.phoneId, number: next };
  }

  /** Rewrites a pending login as the version before `challengePhoneId` stored it. */
  async function asStoredBeforeUpgrade(loginId: string): Promise<void> {
    const login = await logins.get(loginId);
    expect(login?.challengePhoneId).toBeDefined();
    const { challengePhoneId: _dropped, ...before } = login!;
    expect(await logins.replace(loginId, before as PendingLogin)).toBe(true);
    expect(await logins.get(loginId)).not.toHaveProperty('challengePhoneId');
  }

  /**
   * 429 resend_cooldown with at most the wait after the sign-in's `sent`-th code: the sign-in's
   * cooldown doubles across its challenges (C9); otp's here is steady, which identity learns
   * only from a resend of the new challenge, so after the code a new challenge sent it is doubled.
   */
  function expectCooldown(answer: HttpAnswer, sent = 1) {
    expect({ status: answer.status, code: answer.body?.code }).toEqual({ status: 429, code: 'resend_cooldown' });
    const retryAfter = Number(answer.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil((COOLDOWN_MS * 2 ** (sent - 1)) / 1000));
  }

  it('two resends at once after the number changed: one code goes out, to the new number, the other is told to wait (429), and the code signs in', async () => {
    const a = await challengedSignIn();
    const next = await changeNumber(a.id, a.phone.phoneId);
    await untilResendable(a.started.body.challenge);
    const since = Date.now();
    const answers = await Promise.all([h.call('POST', resendUrl(a.loginId), {}), h.call('POST', resendUrl(a.loginId), {})]);
    const accepted = answers.filter((r) => r.status === 202);
    expect(answers.map((r) => r.status).sort()).toEqual([202, 429]);
    // Answered as a resend of the new challenge, after the sign-in's second code.
    expectCooldown(answers.find((r) => r.status === 429)!, 2);
    // Whatever a second send would have been has had time to reach the bus.
    await h.tap.waitFor((t) => signInCodes(since).includes(t), since);
    await sleep(1_500);
    const sent = signInCodes(since);
    expect(sent.map((t) => t.data['to'])).toEqual([next.number]);
    expect((sent[0]!.data['origin'] as { ref?: string }).ref).toBe(accepted[0]!.body.challenge.id);
    expect(await signInWith(a.loginId, codeOf(sent[0]!))).toBe(201);
  });

  it('a login stored before the upgrade: a resend inside the cooldown is refused (429) as before, nothing is sent', async () => {
    const a = await challengedSignIn();
    await asStoredBeforeUpgrade(a.loginId);
    const since = Date.now();
    const answer = await h.call('POST', resendUrl(a.loginId), {});
    expectCooldown(answer);
    await sleep(1_000);
    expect(signInCodes(since)).toEqual([]);
    expect(await signInWith(a.loginId, a.firstCode)).toBe(201);
  });

  it('a login stored before the upgrade, number unchanged: after the cooldown the same challenge is resent to the same number', async () => {
    const a = await challengedSignIn();
    await asStoredBeforeUpgrade(a.loginId);
    await untilResendable(a.started.body.challenge);
    const since = Date.now();
    const answer = await h.call('POST', resendUrl(a.loginId), {});
    expect(answer.status).toBe(202);
    expect(answer.body.challenge.id).toBe(a.started.body.challenge.id);
    const message = await h.tap.waitFor((t) => signInCodes(since).includes(t), since);
    expect(message.data['to']).toBe(a.phone.number);
    // The next resend inside the new cooldown is refused by otp's own count.
    expectCooldown(await h.call('POST', resendUrl(a.loginId), {}));
    expect(await signInWith(a.loginId, codeOf(message))).toBe(201);
  });

  it('a login stored before the upgrade, number changed: the resend starts a new challenge to the new number, whose code signs in', async () => {
    const a = await challengedSignIn();
    await asStoredBeforeUpgrade(a.loginId);
    const next = await changeNumber(a.id, a.phone.phoneId);
    await untilResendable(a.started.body.challenge);
    const since = Date.now();
    const answer = await h.call('POST', resendUrl(a.loginId), { channel: 'voice' });
    expect(answer.status).toBe(202);
    expect(answer.body.challenge.id).not.toBe(a.started.body.challenge.id);
    const message = await h.tap.waitFor((t) => signInCodes(since).includes(t), since);
    expect({ to: message.data['to'], channel: message.data['channel'] }).toEqual({ to: next.number, channel: 'voice' });
    expect(await signInWith(a.loginId, codeOf(message))).toBe(201);
  });

  it('switching the primary number back and forth does not skip the cooldown: each new challenge waits for the previous one', async () => {
    const a = await challengedSignIn();
    const other = await h.verifiedPhone(a.id);
    // Another number made primary needs a step-up (S8).
    const primary = async (phoneId: string) => h.call('POST', `${phonesUrl(a.id)}/${phoneId}/primary`, { stepUpId: await h.stepUp(a.id) });
    expect((await primary(other.phoneId)).status).toBe(200);
    // Inside the first challenge's cooldown, a switch of number does not send at once.
    const since = Date.now();
    expectCooldown(await h.call('POST', resendUrl(a.loginId), {}));
    await untilResendable(a.started.body.challenge);
    const first = await h.call('POST', resendUrl(a.loginId), {});
    expect(first.status).toBe(202);
    expect((await primary(a.phone.phoneId)).status).toBe(200);
    expectCooldown(await h.call('POST', resendUrl(a.loginId), {}), 2);
    await sleep(800);
    expect(signInCodes(since).map((t) => t.data['to'])).toEqual([other.number]);
    await untilResendable(first.body.challenge);
    const back = await h.call('POST', resendUrl(a.loginId), {});
    expect(back.status).toBe(202);
    const message = await h.tap.waitFor((t) => (t.data['origin'] as { ref?: string } | undefined)?.ref === back.body.challenge.id && signInCodes(since).includes(t), since);
    expect(message.data['to']).toBe(a.phone.number);
    expect(await signInWith(a.loginId, codeOf(message))).toBe(201);
  });

  it('never logs a full number, a code, a password or a token', () => {
    expect(h.leaks()).toEqual([]);
  });
});
