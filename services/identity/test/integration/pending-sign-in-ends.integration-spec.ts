import { DataSource } from 'typeorm';
import { Harness } from './support/harness';

jest.setTimeout(90_000);

/**
 * A sign-in waiting for its code ends when what made it possible no longer
 * holds: the password changed since it started. Over HTTP against identity,
 * with real PostgreSQL, Redis, RabbitMQ and the otp service as a process.
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
});
