import { DataSource } from 'typeorm';
import { Harness, sleep, totp } from './support/harness';

jest.setTimeout(90_000);

/**
 * A sign-in (or a password reset) waiting for its code ends when what made it
 * possible no longer holds: the password changed since it started, the
 * number its code went to was removed from the account, or the owner reported
 * its code ("I didn't ask for this"). Over HTTP against
 * identity, with real PostgreSQL, Redis, RabbitMQ and the otp service as a
 * process.
 */
describe('identity: a pending sign-in ends', () => {
  const h = new Harness();
  let ipSeq = 1;
  const ip = () => `10.7.${Math.floor(ipSeq / 250)}.${ipSeq++ % 250}`;

  beforeAll(async () => {
    await h.start();
  }, 120_000);

  afterAll(() => h.close(), 60_000);

  const signIn = (email: string, password: string, device: string) =>
    h.call('POST', '/v1/sessions', { email, password, device: { id: device, name: 'Test phone', ip: ip() } });

  /** An account with a verified number and two-step by SMS. */
  async function twoStepAccount() {
    const a = await h.account();
    const phone = await h.verifiedPhone(a.id);
    await h.twoStep(a.id, { method: 'sms' });
    return { ...a, phone };
  }

  /** A challenged sign-in from `device`, with the code it sent. */
  async function challenged(email: string, password: string, device: string) {
    const started = await signIn(email, password, device);
    expect(started.status).toBe(202);
    const code = await h.codeFor(started.body.challenge.id);
    return { loginId: String(started.body.loginId), code };
  }

  /** The account's sessions and remembered devices as stored. */
  async function stored(accountId: string) {
    const db = h.app.get(DataSource);
    const [sessions] = await db.query<{ n: string }[]>('SELECT count(*) AS n FROM sessions WHERE account_id = $1', [accountId]);
    const remembered = await db.query<{ device_id: string }[]>(
      'SELECT device_id FROM devices WHERE account_id = $1 AND remembered_until IS NOT NULL',
      [accountId],
    );
    return { sessions: Number(sessions!.n), remembered: remembered.map((r) => r.device_id) };
  }

  async function resetPassword(a: { email: string; phone: { number: string } }) {
    const since = Date.now();
    const requested = await h.call('POST', '/v1/password-resets', { email: a.email });
    expect(requested.status).toBe(202);
    const code = await h.codeTo(a.phone.number, since);
    const newPassword = h.password();
    const done = await h.call('POST', `/v1/password-resets/${requested.body.resetId}/complete`, { code, newPassword });
    expect(done.status).toBe(200);
    return newPassword;
  }

  afterEach(() => expect(h.leaks()).toEqual([]));

  describe('after a password reset', () => {
    it('a sign-in started before it cannot finish (410) nor resend (410); no session, no remembered device', async () => {
      const a = await twoStepAccount();
      const first = await challenged(a.email, a.password, 'c-2');
      const second = await challenged(a.email, a.password, 'c-3');
      const before = await stored(a.id);
      const newPassword = await resetPassword(a);

      const verified = await h.call('POST', `/v1/sessions/${first.loginId}/verify`, { code: first.code, rememberDevice: true });
      expect(verified.status).toBe(410);
      expect(verified.body.code).toBe('code_expired');
      expect(verified.body.sessionToken).toBeUndefined();
      const resent = await h.call('POST', `/v1/sessions/${second.loginId}/resend`, {});
      expect(resent.status).toBe(410);
      expect(resent.body.code).toBe('code_expired');
      // Ended for good: the code of the other sign-in does not finish it either.
      expect((await h.call('POST', `/v1/sessions/${second.loginId}/verify`, { code: second.code })).status).toBe(410);

      expect(await stored(a.id)).toEqual({ sessions: before.sessions, remembered: [] });
      // c-2 is not remembered: the new password still asks for a code there.
      expect((await signIn(a.email, newPassword, 'c-2')).status).toBe(202);
    });

    it('a sign-in started after it finishes as usual (201)', async () => {
      const a = await twoStepAccount();
      const newPassword = await resetPassword(a);
      const after = await challenged(a.email, newPassword, 'c-4');
      const verified = await h.call('POST', `/v1/sessions/${after.loginId}/verify`, { code: after.code, rememberDevice: true });
      expect(verified.status).toBe(201);
      expect((await h.call('GET', `/v1/sessions/${verified.body.sessionId}`)).body).toMatchObject({ active: true });
      expect((await stored(a.id)).remembered).toEqual(['c-4']);
    });
  });

  describe('after the number its code went to is removed', () => {
    it('a password reset sent to it cannot complete (410); the password stays', async () => {
      const a = await h.account();
      const phone = await h.verifiedPhone(a.id);
      const since = Date.now();
      const requested = await h.call('POST', '/v1/password-resets', { email: a.email });
      expect(requested.status).toBe(202);
      const code = await h.codeTo(phone.number, since);
      // The verified primary goes only with a step-up (S8), whose code goes to it as well.
      expect((await h.call('DELETE', `/v1/accounts/${a.id}/phones/${phone.phoneId}`, { stepUpId: await h.stepUp(a.id) })).status).toBe(204);

      const url = `/v1/password-resets/${requested.body.resetId}/complete`;
      const newPassword = h.password();
      const done = await h.call('POST', url, { code, newPassword });
      expect(done.status).toBe(410);
      expect(done.body.code).toBe('code_expired');
      // Ended: not again either.
      expect((await h.call('POST', url, { code, newPassword })).status).toBe(410);
      expect((await signIn(a.email, newPassword, 'r-1')).status).toBe(401);
      expect((await signIn(a.email, a.password, 'r-1')).status).toBe(201);
      expect(h.alerts(a.email, 'security.password_changed')).toEqual([]);
    });

    it('a sign-in whose code went to it by SMS cannot finish (410); no session, no remembered device', async () => {
      const a = await h.account();
      const first = await h.verifiedPhone(a.id);
      await h.verifiedPhone(a.id);
      await h.twoStep(a.id, { method: 'sms' });
      const login = await challenged(a.email, a.password, 'c-5');
      const before = await stored(a.id);
      const removed = await h.call('DELETE', `/v1/accounts/${a.id}/phones/${first.phoneId}`, { stepUpId: await h.stepUp(a.id) });
      expect(removed.status).toBe(204);

      const verified = await h.call('POST', `/v1/sessions/${login.loginId}/verify`, { code: login.code, rememberDevice: true });
      expect(verified.status).toBe(410);
      expect(verified.body.code).toBe('code_expired');
      expect(verified.body.sessionToken).toBeUndefined();
      expect((await h.call('POST', `/v1/sessions/${login.loginId}/verify`, { code: login.code })).status).toBe(410);
      expect(await stored(a.id)).toEqual({ sessions: before.sessions, remembered: [] });
    });

    it('a sign-in whose code went by e-mail still finishes (201)', async () => {
      const a = await h.account();
      const first = await h.verifiedPhone(a.id);
      await h.verifiedPhone(a.id);
      await h.twoStep(a.id, { method: 'sms', backupMethod: 'email' });
      const started = await signIn(a.email, a.password, 'c-6');
      expect(started.status).toBe(202);
      await sleep(Math.max(0, Date.parse(started.body.challenge.resendAvailableAt) - Date.now()) + 100);
      const since = Date.now();
      const byEmail = await h.call('POST', `/v1/sessions/${started.body.loginId}/resend`, { channel: 'email' });
      expect(byEmail.status).toBe(202);
      const code = await h.codeTo(a.email, since);
      const removed = await h.call('DELETE', `/v1/accounts/${a.id}/phones/${first.phoneId}`, { stepUpId: await h.stepUp(a.id) });
      expect(removed.status).toBe(204);

      const verified = await h.call('POST', `/v1/sessions/${started.body.loginId}/verify`, { code, rememberDevice: true });
      expect(verified.status).toBe(201);
      expect((await stored(a.id)).remembered).toEqual(['c-6']);
    });
  });

  describe('after its code is reported', () => {
    /** Reports the latest code of a challenge through the link in its message, as the owner would. */
    async function report(challengeId: string) {
      const reported = await h.reportCode(challengeId);
      expect(reported.status).toBe(200);
      expect(reported.body).toMatchObject({ status: 'reported' });
    }

    it('the sign-in neither sends a new code (410) nor finishes (410)', async () => {
      const a = await h.account();
      await h.verifiedPhone(a.id);
      await h.twoStep(a.id, { method: 'sms', backupMethod: 'email' });
      const started = await signIn(a.email, a.password, 'c-7');
      expect(started.status).toBe(202);
      const code = await h.codeFor(started.body.challenge.id);
      const before = await stored(a.id);
      await report(started.body.challenge.id);
      await sleep(Math.max(0, Date.parse(started.body.challenge.resendAvailableAt) - Date.now()) + 100);

      const url = `/v1/sessions/${started.body.loginId}`;
      const resent = await h.call('POST', `${url}/resend`, {});
      expect(resent.status).toBe(410);
      expect(resent.body.code).toBe('code_expired');
      expect((await h.call('POST', `${url}/resend`, { channel: 'email' })).status).toBe(410);
      expect((await h.call('POST', `${url}/verify`, { code, rememberDevice: true })).status).toBe(410);
      expect(await stored(a.id)).toEqual({ sessions: before.sessions, remembered: [] });
    });

    it('a report of a code its resend replaced (the number changed) ends it too (410)', async () => {
      const a = await h.account();
      await h.verifiedPhone(a.id);
      const second = await h.verifiedPhone(a.id);
      await h.twoStep(a.id, { method: 'sms' });
      const started = await signIn(a.email, a.password, 'c-9');
      expect(started.status).toBe(202);
      await h.codeFor(started.body.challenge.id);
      const made = await h.call('POST', `/v1/accounts/${a.id}/phones/${second.phoneId}/primary`, { stepUpId: await h.stepUp(a.id) });
      expect(made.status).toBe(200);
      await sleep(Math.max(0, Date.parse(started.body.challenge.resendAvailableAt) - Date.now()) + 100);
      // The resend goes to the new primary number: a new challenge in place of the first.
      const resent = await h.call('POST', `/v1/sessions/${started.body.loginId}/resend`, {});
      expect(resent.status).toBe(202);
      expect(resent.body.challenge.id).not.toBe(started.body.challenge.id);
      const code = await h.codeFor(resent.body.challenge.id);
      await report(started.body.challenge.id);

      const verified = await h.call('POST', `/v1/sessions/${started.body.loginId}/verify`, { code, rememberDevice: true });
      expect(verified.status).toBe(410);
      expect(verified.body.code).toBe('code_expired');
      expect((await stored(a.id)).sessions).toBe(0);
    });

    it('the sign-in does not finish with an authenticator code either (410)', async () => {
      const a = await h.account();
      await h.verifiedPhone(a.id);
      const secret = await h.authenticator(a.id);
      await h.twoStep(a.id, { method: 'sms', backupMethod: 'totp' });
      const started = await signIn(a.email, a.password, 'c-8');
      expect(started.status).toBe(202);
      await report(started.body.challenge.id);

      const verified = await h.call('POST', `/v1/sessions/${started.body.loginId}/verify`, { code: h.keep(totp(secret, Math.floor(Date.now() / 30_000) + 1)), factor: 'totp' });
      expect(verified.status).toBe(410);
      expect(verified.body.code).toBe('code_expired');
      expect((await stored(a.id)).sessions).toBe(0);
    });
  });
});
