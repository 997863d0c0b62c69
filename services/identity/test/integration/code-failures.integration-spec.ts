import { Harness, sleep, totp } from './support/harness';

jest.setTimeout(90_000);

/**
 * The per-account count of wrong codes (C8) and its `security.failed_codes`
 * alert: only codes really compared count, a password reset cannot push the
 * sign-in lock, the lock only stands before a second factor, and the owner
 * gets at most one alert per window. Real PostgreSQL, Redis, RabbitMQ and the
 * otp service as a process.
 */
describe('identity: wrong codes per account (C8)', () => {
  const h = new Harness();
  let ipSeq = 1;
  const ip = () => `10.7.${Math.floor(ipSeq / 250)}.${ipSeq++ % 250}`;
  const LOCK_AFTER = 10;

  beforeAll(async () => {
    await h.start({
      identityEnv: {
        IDENTITY_CODE_FAILURE_LOCK_AFTER: String(LOCK_AFTER),
        IDENTITY_FAILED_CODES_ALERT_AFTER: '3',
      },
      // Several sign-in codes go to one number in this file.
      otpEnv: { OTP_LIMIT_DESTINATION: '100/15m,1000/1d' },
    });
  }, 120_000);

  afterAll(() => h.close(), 60_000);

  const signIn = (email: string, password: string, device: string) =>
    h.call('POST', '/v1/sessions', {
      email,
      password,
      device: { id: device, name: 'Test phone', ip: ip() },
    });

  const wrongOf = (code: string) => (code === '000000' ? '111111' : '000000');

  async function twoStepAccount() {
    const a = await h.account();
    const phone = await h.verifiedPhone(a.id);
    const res = await h.call('PUT', `/v1/accounts/${a.id}/two-step`, {
      enabled: true,
      method: 'sms',
    });
    if (res.status !== 200) throw new Error(`two-step: ${res.status} ${JSON.stringify(res.body)}`);
    return { ...a, phone };
  }

  /** A challenged sign-in from a new device, with its code. */
  async function challenged(a: { email: string; password: string }, device: string) {
    const res = await signIn(a.email, a.password, device);
    expect(res.status).toBe(202);
    return {
      url: `/v1/sessions/${res.body.loginId}/verify`,
      code: await h.codeFor(res.body.challenge.id),
    };
  }

  /** Wrong codes on one sign-in; returns the statuses. */
  async function wrong(login: { url: string; code: string }, times: number): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < times; i++)
      statuses.push((await h.call('POST', login.url, { code: wrongOf(login.code) })).status);
    return statuses;
  }

  /** Waits for the outbox relay to publish what the requests queued, then reads the alerts. */
  async function failedCodeAlerts(email: string) {
    await sleep(1_500);
    return h.alerts(email, 'security.failed_codes');
  }

  it('wrong codes on a password reset lock neither sign-in nor a second factor, and send at most one alert', async () => {
    const owner = await twoStepAccount();
    const plain = await h.account();
    for (const a of [owner, plain]) {
      const requested = await h.call('POST', '/v1/password-resets', { email: a.email });
      expect(requested.status).toBe(202);
      const url = `/v1/password-resets/${requested.body.resetId}/complete`;
      const answers: number[] = [];
      for (let i = 0; i < 105; i++)
        answers.push(
          (await h.call('POST', url, { code: '000001', newPassword: h.password() })).status,
        );
      expect(answers.slice(0, 4)).toEqual([422, 422, 422, 422]);
      expect(new Set(answers.slice(4))).toEqual(new Set([429]));
    }
    // Two-step off: the right password signs in. Two-step on: the second factor is still offered.
    expect((await signIn(plain.email, plain.password, 'laptop')).status).toBe(201);
    expect((await signIn(owner.email, owner.password, 'laptop')).status).toBe(202);
    expect((await failedCodeAlerts(owner.email)).length).toBeLessThanOrEqual(1);
    expect((await failedCodeAlerts(plain.email)).length).toBeLessThanOrEqual(1);
  });

  it('counts each compared code once (a locked challenge adds nothing), locks new-device sign-in at the limit, one alert per window; a success clears', async () => {
    const a = await twoStepAccount();

    // Five compared codes (four mismatches, then the one that locks); ten more on the locked sign-in count for nothing.
    const first = await challenged(a, 'dev-1');
    expect(await wrong(first, 5)).toEqual([422, 422, 422, 422, 429]);
    expect(await wrong(first, 10)).toEqual(Array.from({ length: 10 }, () => 429));

    // Not locked (5 < 10); a success clears the count and remembers the device.
    const second = await challenged(a, 'home');
    expect(await wrong(second, 3)).toEqual([422, 422, 422]);
    expect(
      (await h.call('POST', second.url, { code: second.code, rememberDevice: true })).status,
    ).toBe(201);

    // Ten compared codes from zero: the lock.
    expect(await wrong(await challenged(a, 'dev-2'), 5)).toEqual([422, 422, 422, 422, 429]);
    expect(await wrong(await challenged(a, 'dev-3'), 5)).toEqual([422, 422, 422, 422, 429]);
    const locked = await signIn(a.email, a.password, 'dev-4');
    expect(locked.status).toBe(429);
    expect(locked.body.code).toBe('account_locked');
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);

    // The lock guards the second factor: a remembered device, which is asked for none, signs in.
    expect((await signIn(a.email, a.password, 'home')).status).toBe(201);

    // 18 wrong codes compared in all, 28 answered: one alert for the window.
    const alerts = await failedCodeAlerts(a.email);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.data).toMatchObject({
      priority: 'critical',
      channel: 'email',
      variables: expect.objectContaining({ purpose: 'sign_in' }),
    });

    // A new password (a reset with the right code) clears the lock.
    const since = Date.now();
    const requested = await h.call('POST', '/v1/password-resets', { email: a.email });
    const code = await h.codeTo(a.phone.number, since);
    const newPassword = h.password();
    expect(
      (
        await h.call('POST', `/v1/password-resets/${requested.body.resetId}/complete`, {
          code,
          newPassword,
        })
      ).status,
    ).toBe(200);
    expect((await signIn(a.email, newPassword, 'dev-5')).status).toBe(202);
  });

  it("a step-up's locking wrong code counts once, like a sign-in's", async () => {
    const a = await twoStepAccount();
    const stepUp = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up`, {});
    expect(stepUp.status).toBe(201);
    const code = await h.codeFor(stepUp.body.challenge.id);
    const url = `/v1/accounts/${a.id}/two-step/step-up/${stepUp.body.stepUpId}/verify`;
    const answers: number[] = [];
    for (let i = 0; i < 15; i++)
      answers.push((await h.call('POST', url, { code: wrongOf(code) })).status);
    expect(answers.slice(0, 5)).toEqual([422, 422, 422, 422, 429]);
    // Five compared here (four mismatches and the locking one) and five on a sign-in: the lock at ten.
    expect(await wrong(await challenged(a, 'dev-s1'), 5)).toEqual([422, 422, 422, 422, 429]);
    const locked = await signIn(a.email, a.password, 'dev-s2');
    expect({ status: locked.status, code: locked.body.code }).toEqual({
      status: 429,
      code: 'account_locked',
    });
  });

  it('a right authenticator code sent four times at once (a double tap): one session, the copies 410 code_expired, nothing counted, no alert', async () => {
    const a = await h.account();
    const secret = await h.authenticator(a.id);
    await h.twoStep(a.id, { method: 'totp' });
    const started = await signIn(a.email, a.password, 'dev-double-tap');
    expect(started.status).toBe(202);
    const url = `/v1/sessions/${started.body.loginId}/verify`;
    // The next step's code (the enrolment used the current one).
    const code = h.keep(totp(secret, Math.floor(Date.now() / 30_000) + 1));
    const answers = await Promise.all(Array.from({ length: 4 }, () => h.call('POST', url, { code, factor: 'totp' })));
    expect(answers.map((x) => `${x.status} ${x.body?.code ?? ''}`).sort()).toEqual([
      '201 ',
      '410 code_expired',
      '410 code_expired',
      '410 code_expired',
    ]);
    // Three copies would have been three wrong codes: the alert (after 3) and a third of the lock.
    expect(await failedCodeAlerts(a.email)).toHaveLength(0);
  });

  it('never logs a full number, a code, a password or a token', () => {
    expect(h.secrets.size).toBeGreaterThan(10);
    expect(h.leaks()).toEqual([]);
  });
});
