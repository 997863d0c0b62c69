import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { Harness, sleep, totp } from './support/harness';

jest.setTimeout(60_000);

/**
 * Sign-in, remembered devices, two-step challenges and password recovery
 * over HTTP against the running identity service, with real PostgreSQL,
 * Redis, RabbitMQ and the otp service as a process.
 */
describe('identity: sign-in and password reset', () => {
  const h = new Harness();
  let ipSeq = 1;
  /** A fresh client address per test, so per-IP limits of one test do not touch another. */
  const ip = () => `10.9.${Math.floor(ipSeq / 250)}.${ipSeq++ % 250}`;

  beforeAll(async () => {
    await h.start({
      identityEnv: {
        IDENTITY_SIGNIN_MAX_FAILURES_PER_ACCOUNT: '3',
        IDENTITY_SIGNIN_MAX_FAILURES_PER_IP: '6',
        IDENTITY_RESET_MAX_PER_TARGET: '3',
        IDENTITY_FAILED_CODES_ALERT_AFTER: '3',
      },
    });
  }, 120_000);

  afterAll(() => h.close(), 60_000);

  const signIn = (email: string, password: string, device: string, extra: { ip?: string; country?: string } = {}) =>
    h.call(
      'POST',
      '/v1/sessions',
      { email, password, device: { id: device, name: 'Test phone', ip: extra.ip ?? ip() } },
      extra.country ? { 'x-client-country': extra.country } : {},
    );

  /** An account with a verified number and two-step by SMS. */
  async function twoStepAccount(options: { backupMethod?: 'email' | 'totp' } = {}) {
    const a = await h.account();
    const phone = await h.verifiedPhone(a.id);
    const res = await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'sms', ...(options.backupMethod ? { backupMethod: options.backupMethod } : {}) });
    if (res.status !== 200) throw new Error(`two-step: ${res.status} ${JSON.stringify(res.body)}`);
    return { ...a, phone };
  }

  const wrongOf = (code: string) => (code === '000000' ? '111111' : '000000');

  describe('sign-in', () => {
    it('signs in with two-step off (201): an EdDSA JWT with its kid, verifiable with the JWKS', async () => {
      const a = await h.account();
      const res = await signIn(a.email, a.password, 'dev-a');
      expect(res.status).toBe(201);
      expect(res.headers.get('cache-control')).toBe('no-store'); // a credential
      expect(Date.parse(res.body.expiresAt)).toBeGreaterThan(Date.now());
      const jwks = await fetch(`${h.base}/.well-known/jwks.json`).then((r) => r.json() as Promise<{ keys: { kid: string; alg: string }[] }>);
      expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
      const header = decodeProtectedHeader(res.body.sessionToken);
      expect(header).toMatchObject({ alg: 'EdDSA', kid: jwks.keys[0]!.kid });
      const { payload } = await jwtVerify(res.body.sessionToken, createLocalJWKSet(jwks as never), {
        issuer: h.config.IDENTITY_JWT_ISSUER,
        audience: h.config.IDENTITY_JWT_AUDIENCE,
      });
      expect(payload).toMatchObject({ sub: a.id, sid: res.body.sessionId, did: 'dev-a', amr: ['pwd'] });
      await h.tap.waitFor((m) => m.data['to'] === a.email && m.data['template'] === 'security.new_device');
      expect((await h.call('GET', `/v1/sessions/${res.body.sessionId}`)).body).toMatchObject({ active: true, accountId: a.id });

      // A device is announced once: a second sign-in from it is a new session, not a new device.
      const again = await signIn(a.email, a.password, 'dev-a');
      expect(again.status).toBe(201);
      expect(again.body.sessionId).not.toBe(res.body.sessionId);
      expect((await h.call('GET', `/v1/sessions/${again.body.sessionId}`)).body).toMatchObject({ active: true, deviceId: 'dev-a' });
      expect((await signIn(a.email, a.password, 'dev-b')).status).toBe(201);
      const deviceAlert = (id: string) => (m: { data: Record<string, unknown> }) =>
        m.data['template'] === 'security.new_device' && m.data['dedupeKey'] === `identity:security.new_device:${a.id}:${id}`;
      await h.tap.waitFor(deviceAlert('dev-b'));
      expect(h.tap.messages.filter(deviceAlert('dev-a'))).toHaveLength(1);
    });

    it('signs in from a device whose id is as long as allowed (200), its new-device alert on the bus within the contract', async () => {
      const a = await h.account();
      const id = `d${'q'.repeat(199)}`;
      const res = await signIn(a.email, a.password, id);
      expect(res.status).toBe(201);
      const alert = await h.tap.waitFor((m) => m.data['to'] === a.email && m.data['template'] === 'security.new_device');
      expect(String(alert.data['dedupeKey']).length).toBeLessThanOrEqual(200);
      // The same device again: the same key, so at most one alert.
      expect((await signIn(a.email, a.password, id)).status).toBe(201);
      expect(h.tap.messages.filter((m) => m.data['dedupeKey'] === alert.data['dedupeKey'])).toHaveLength(1);
    });

    it('answers an unknown e-mail and a wrong password alike (401 invalid_credentials), each with one argon2 verification', async () => {
      const a = await h.account();
      const before = { verifies: h.hasher.verifies, hashes: h.hasher.hashes };
      const unknown = await signIn(h.email(), h.password(), 'dev-b');
      expect(h.hasher.verifies - before.verifies).toBe(1);
      const wrong = await signIn(a.email, h.password(), 'dev-b');
      expect(h.hasher.verifies - before.verifies).toBe(2);
      expect(h.hasher.hashes).toBe(before.hashes);
      expect(unknown.status).toBe(401);
      expect(wrong.status).toBe(401);
      const shape = (b: Record<string, unknown>) => ({ ...b, instance: undefined });
      expect(shape(unknown.body)).toEqual(shape(wrong.body));
      expect(unknown.body.code).toBe('invalid_credentials');
    });

    it('throttles failed sign-ins per account (429 with Retry-After), the same for an unknown e-mail', async () => {
      const a = await h.account();
      for (let i = 0; i < 3; i++) expect((await signIn(a.email, h.password(), 'dev-c')).status).toBe(401);
      const blocked = await signIn(a.email, a.password, 'dev-c');
      expect(blocked.status).toBe(429);
      expect(blocked.body.code).toBe('rate_limited');
      // Honest: the failures fall out of their 15-minute window in about 15 minutes (the error
      // filter's fallback would say 1 s).
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(800);
      expect(Number(blocked.headers.get('retry-after'))).toBeLessThanOrEqual(900);

      const ghost = h.email();
      for (let i = 0; i < 3; i++) expect((await signIn(ghost, h.password(), 'dev-c')).status).toBe(401);
      expect((await signIn(ghost, h.password(), 'dev-c')).status).toBe(429);
    });

    it('throttles failed sign-ins per IP', async () => {
      const from = ip();
      for (let i = 0; i < 6; i++) expect((await signIn(h.email(), h.password(), 'dev-d', { ip: from })).status).toBe(401);
      const a = await h.account();
      const blocked = await signIn(a.email, a.password, 'dev-d', { ip: from });
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(800);
      expect(Number(blocked.headers.get('retry-after'))).toBeLessThanOrEqual(900);
      expect((await signIn(a.email, a.password, 'dev-d')).status).toBe(201);
    });

    it('challenges a new device (202), finishes with the code (201); a remembered device is not challenged', async () => {
      const a = await twoStepAccount();
      const first = await signIn(a.email, a.password, 'phone-1');
      expect(first.status).toBe(202);
      expect(first.body).toMatchObject({ loginId: expect.any(String), challenge: { channel: 'sms', alternatives: ['voice'] } });
      expect(first.body.challenge.to).toContain(a.phone.number.slice(-2));
      expect(first.body.challenge.to).not.toContain(a.phone.number.slice(2, -2));
      expect(first.body.sessionToken).toBeUndefined();
      const event = await h.tap.waitFor((m) => m.envelope.type === 'identity.signin.challenged.v1' && m.data['loginId'] === first.body.loginId);
      expect(event.data).toMatchObject({ accountId: a.id, reason: 'new_device', device: { id: 'phone-1' } });

      const code = await h.codeFor(first.body.challenge.id);
      const url = `/v1/sessions/${first.body.loginId}/verify`;
      const wrong = await h.call('POST', url, { code: wrongOf(code) });
      expect(wrong.status).toBe(422);
      expect(wrong.body).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 4 });
      const done = await h.call('POST', url, { code, rememberDevice: true });
      expect(done.status).toBe(201);
      expect(done.body.sessionToken).toEqual(expect.any(String));
      expect((await h.call('POST', url, { code })).status).toBe(410);

      const again = await signIn(a.email, a.password, 'phone-1');
      expect(again.status).toBe(201);
      expect((await signIn(a.email, a.password, 'phone-2')).status).toBe(202);
    });

    it('challenges a remembered device from another country (new_location): gateway header or the IP table', async () => {
      const a = await twoStepAccount();
      const first = await signIn(a.email, a.password, 'laptop', { country: 'US' });
      const code = await h.codeFor(first.body.challenge.id);
      expect((await h.call('POST', `/v1/sessions/${first.body.loginId}/verify`, { code, rememberDevice: true })).status).toBe(201);
      expect((await signIn(a.email, a.password, 'laptop', { country: 'US' })).status).toBe(201);
      // 198.51.100.0/24 is US in the built-in table: still the same country.
      expect((await signIn(a.email, a.password, 'laptop', { ip: '198.51.100.20' })).status).toBe(201);

      const moved = await signIn(a.email, a.password, 'laptop', { country: 'AU' });
      expect(moved.status).toBe(202);
      const event = await h.tap.waitFor((m) => m.envelope.type === 'identity.signin.challenged.v1' && m.data['loginId'] === moved.body.loginId);
      expect(event.data['reason']).toBe('new_location');
      // 203.0.113.0/24 is AU in the built-in table.
      expect((await signIn(a.email, a.password, 'laptop', { ip: '203.0.113.9' })).status).toBe(202);
    });

    it('forgets a remembered device on request (204): its next sign-in is challenged', async () => {
      const a = await twoStepAccount();
      const first = await signIn(a.email, a.password, 'tablet');
      const code = await h.codeFor(first.body.challenge.id);
      await h.call('POST', `/v1/sessions/${first.body.loginId}/verify`, { code, rememberDevice: true });
      expect((await signIn(a.email, a.password, 'tablet')).status).toBe(201);
      expect((await h.call('DELETE', `/v1/accounts/${a.id}/devices/tablet`)).status).toBe(204);
      expect((await signIn(a.email, a.password, 'tablet')).status).toBe(202);
    });

    it('resends the sign-in code, switching SMS to voice (202); the new code signs in', async () => {
      const a = await twoStepAccount();
      const first = await signIn(a.email, a.password, 'watch');
      const early = await h.call('POST', `/v1/sessions/${first.body.loginId}/resend`, {});
      expect(early.status).toBe(429);
      // Honest: what is left of the cooldown the answer names.
      const left = (Date.parse(early.body.resendAvailableAt) - Date.now()) / 1000;
      expect(Math.abs(Number(early.headers.get('retry-after')) - Math.ceil(left))).toBeLessThanOrEqual(1);
      await sleep(1_100);
      const since = Date.now();
      const voice = await h.call('POST', `/v1/sessions/${first.body.loginId}/resend`, { channel: 'voice' });
      expect(voice.status).toBe(202);
      expect(voice.body.challenge).toMatchObject({ channel: 'voice', alternatives: ['sms'] });
      const code = await h.codeFor(voice.body.challenge.id, since);
      expect((await h.call('POST', `/v1/sessions/${first.body.loginId}/verify`, { code })).status).toBe(201);
      const email = await h.call('POST', `/v1/sessions/${first.body.loginId}/resend`, { channel: 'email' });
      expect(email.status).toBe(410);
    });

    it('offers e-mail only as the configured backup (S7): resend switches the code to the e-mail', async () => {
      const a = await twoStepAccount({ backupMethod: 'email' });
      const first = await signIn(a.email, a.password, 'kiosk');
      expect(first.body.challenge.alternatives).toEqual(['voice', 'email']);
      await sleep(1_100);
      const since = Date.now();
      const byEmail = await h.call('POST', `/v1/sessions/${first.body.loginId}/resend`, { channel: 'email' });
      expect(byEmail.status).toBe(202);
      expect(byEmail.body.challenge.channel).toBe('email');
      const code = await h.codeTo(a.email, since);
      expect((await h.call('POST', `/v1/sessions/${first.body.loginId}/verify`, { code })).status).toBe(201);

      const b = await twoStepAccount();
      const noEmail = await signIn(b.email, b.password, 'kiosk');
      const refused = await h.call('POST', `/v1/sessions/${noEmail.body.loginId}/resend`, { channel: 'email' });
      expect(refused.status).toBe(422);
    });

    it('takes an authenticator code or a backup code when TOTP is the method (otp.factor.verify)', async () => {
      const a = await h.account();
      const secret = await h.authenticator(a.id);
      const codes = await h.otpCall('POST', `/v1/accounts/${a.id}/backup-codes`, {});
      expect(codes.status).toBe(201);
      for (const c of codes.body.codes as string[]) h.keep(c);
      expect((await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'totp' })).status).toBe(200);

      const first = await signIn(a.email, a.password, 'pc');
      expect(first.status).toBe(202);
      expect(first.body.challenge).toMatchObject({ channel: 'totp', alternatives: ['backup_code'] });
      const step = Math.floor(Date.now() / 30_000) + 1;
      const bad = await h.call('POST', `/v1/sessions/${first.body.loginId}/verify`, { code: totp(secret, step + 10) });
      expect(bad.status).toBe(422);
      expect((await h.call('POST', `/v1/sessions/${first.body.loginId}/verify`, { code: h.keep(totp(secret, step)) })).status).toBe(201);

      const second = await signIn(a.email, a.password, 'pc-2');
      const backup = await h.call('POST', `/v1/sessions/${second.body.loginId}/verify`, { code: codes.body.codes[0], factor: 'backup_code' });
      expect(backup.status).toBe(201);
    });

    it('binds a code to its sign-in (C6): the code of one sign-in does not finish another', async () => {
      const a = await twoStepAccount();
      const one = await signIn(a.email, a.password, 'dev-x');
      const two = await signIn(a.email, a.password, 'dev-y');
      const [codeOne, codeTwo] = [await h.codeFor(one.body.challenge.id), await h.codeFor(two.body.challenge.id)];
      if (codeOne !== codeTwo) expect((await h.call('POST', `/v1/sessions/${two.body.loginId}/verify`, { code: codeOne })).status).toBe(422);
      expect((await h.call('POST', `/v1/sessions/${two.body.loginId}/verify`, { code: codeTwo })).status).toBe(201);
    });

    it('locks a sign-in after five wrong codes (429 too_many_attempts); wrong codes in a row alert the e-mail', async () => {
      const a = await twoStepAccount();
      const first = await signIn(a.email, a.password, 'dev-z');
      const code = await h.codeFor(first.body.challenge.id);
      const url = `/v1/sessions/${first.body.loginId}/verify`;
      for (let i = 0; i < 4; i++) expect((await h.call('POST', url, { code: wrongOf(code) })).status).toBe(422);
      const locked = await h.call('POST', url, { code: wrongOf(code) });
      expect(locked.status).toBe(429);
      expect(locked.body.code).toBe('too_many_attempts');
      expect((await h.call('POST', url, { code })).status).toBe(429);
      const alert = await h.tap.waitFor((m) => m.data['to'] === a.email && m.data['template'] === 'security.failed_codes');
      expect(alert.data).toMatchObject({ priority: 'critical', channel: 'email' });
    });

    it('answers 410 for an unknown or finished sign-in', async () => {
      expect((await h.call('POST', '/v1/sessions/6d1c6a1e-0000-4000-8000-000000000009/verify', { code: '123456' })).status).toBe(410);
      expect((await h.call('POST', '/v1/sessions/6d1c6a1e-0000-4000-8000-000000000009/resend', {})).body.code).toBe('code_expired');
    });
  });

  describe('password reset', () => {
    it('by phone, end to end: the code goes to the primary number; completing revokes sessions and devices and tells the e-mail', async () => {
      const a = await twoStepAccount();
      const first = await signIn(a.email, a.password, 'old-phone');
      const signInCode = await h.codeFor(first.body.challenge.id);
      const session = await h.call('POST', `/v1/sessions/${first.body.loginId}/verify`, { code: signInCode, rememberDevice: true });
      expect(session.headers.get('cache-control')).toBe('no-store');
      expect((await signIn(a.email, a.password, 'old-phone')).status).toBe(201);

      const since = Date.now();
      const requested = await h.call('POST', '/v1/password-resets', { phone: a.phone.number });
      expect(requested.status).toBe(202);
      expect(Object.keys(requested.body)).toEqual(['resetId']);
      const code = await h.codeTo(a.phone.number, since);
      const url = `/v1/password-resets/${requested.body.resetId}/complete`;
      const newPassword = h.password();
      const wrong = await h.call('POST', url, { code: wrongOf(code), newPassword });
      expect(wrong.status).toBe(422);
      expect(wrong.body.code).toBe('code_mismatch');
      const done = await h.call('POST', url, { code, newPassword });
      expect(done.status).toBe(200);
      expect(done.body).toEqual({ resetId: requested.body.resetId, status: 'completed' });

      expect((await signIn(a.email, a.password, 'old-phone')).status).toBe(401);
      // The remembered device was forgotten: a code again.
      expect((await signIn(a.email, newPassword, 'old-phone')).status).toBe(202);
      expect((await h.call('GET', `/v1/sessions/${session.body.sessionId}`)).body).toMatchObject({ active: false });
      await h.tap.waitFor((m) => m.data['to'] === a.email && m.data['template'] === 'security.password_changed');
      expect((await h.call('POST', url, { code, newPassword })).status).toBe(410);
    });

    it('by e-mail for an account without a number: the code goes to the e-mail', async () => {
      const a = await h.account();
      const since = Date.now();
      const requested = await h.call('POST', '/v1/password-resets', { email: a.email.toUpperCase() });
      expect(requested.status).toBe(202);
      const code = await h.codeTo(a.email, since);
      const newPassword = h.password();
      expect((await h.call('POST', `/v1/password-resets/${requested.body.resetId}/complete`, { code, newPassword })).status).toBe(200);
      expect((await signIn(a.email, newPassword, 'any')).status).toBe(201);
    });

    it('answers the same 202 for an unknown e-mail or number; a decoy never completes', async () => {
      const known = await h.account();
      const answers = [
        await h.call('POST', '/v1/password-resets', { email: known.email }),
        await h.call('POST', '/v1/password-resets', { email: h.email() }),
        await h.call('POST', '/v1/password-resets', { phone: h.phone() }),
        await h.call('POST', '/v1/password-resets', { phone: h.phone().slice(2), country: 'US' }),
      ];
      for (const res of answers) {
        expect(res.status).toBe(202);
        expect(Object.keys(res.body)).toEqual(['resetId']);
        expect(res.headers.get('content-type')).toBe(answers[0]!.headers.get('content-type'));
      }
      const decoy = `/v1/password-resets/${answers[1]!.body.resetId}/complete`;
      const first = await h.call('POST', decoy, { code: '123456', newPassword: h.password() });
      expect(first.status).toBe(422);
      expect(first.body).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 4 });
      for (let i = 0; i < 3; i++) expect((await h.call('POST', decoy, { code: '123456', newPassword: h.password() })).status).toBe(422);
      expect((await h.call('POST', decoy, { code: '123456', newPassword: h.password() })).status).toBe(429);
      expect((await h.call('POST', '/v1/password-resets/6d1c6a1e-0000-4000-8000-00000000000a/complete', { code: '123456', newPassword: h.password() })).status).toBe(410);
      expect((await h.call('POST', '/v1/password-resets', { phone: '12' })).body.code).toBe('invalid_phone_number');
    });

    it('limits resets per target (429 with Retry-After), known or not', async () => {
      const email = h.email();
      for (let i = 0; i < 3; i++) expect((await h.call('POST', '/v1/password-resets', { email })).status).toBe(202);
      const limited = await h.call('POST', '/v1/password-resets', { email });
      expect(limited.status).toBe(429);
      // Honest: the resets fall out of their one-hour window in about an hour.
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(3_500);
      expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(3_600);
    });
  });

  it('a dead otp service is a fast 503, not a hang', async () => {
    const a = await twoStepAccount();
    await h.killOtp();
    const started = Date.now();
    const before = (await h.call('GET', `/v1/accounts/${a.id}`)).body.phones;
    const add = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: h.phone() });
    expect(add.status).toBe(503);
    expect(add.body.code).toBe('service_unavailable');
    expect(add.headers.get('retry-after')).toBe('1');
    expect(Date.now() - started).toBeLessThan(h.config.IDENTITY_OTP_TIMEOUT + 1_500);
    // Recorded before the send, removed when the send failed: the account is as it was.
    expect((await h.call('GET', `/v1/accounts/${a.id}`)).body.phones).toEqual(before);
    expect((await signIn(a.email, a.password, 'new-device')).status).toBe(503);
  });

  it('never logs a full number, a code, a password or a token (identity and otp logs)', () => {
    expect(h.secrets.size).toBeGreaterThan(30);
    expect(h.otpOutput.length).toBeGreaterThan(10);
    expect(h.leaks()).toEqual([]);
  });
});
