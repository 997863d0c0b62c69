import { randomUUID } from 'node:crypto';
import { accountExistsV1 } from '@phonegate/contracts';
import { EventBus } from '@phonegate/messaging';
import { Harness, sleep } from './support/harness';

jest.setTimeout(120_000);

/**
 * Between identity and the otp service (a real process), with real PostgreSQL, Redis and
 * RabbitMQ: otp keeps factors only for accounts identity has (identity announces them and
 * answers `identity.account.exists.v1`), and a report of a sign-in code that had already ended
 * still ends the sign-in. Sign-in codes live 30 s here (the shortest otp allows).
 */
describe('identity and otp: known accounts, late reports', () => {
  const h = new Harness();
  let ipSeq = 1;
  const ip = () => `10.9.${Math.floor(ipSeq / 250)}.${ipSeq++ % 250}`;

  beforeAll(async () => {
    await h.start({ otpEnv: { OTP_SIGNIN_TTL: '30s' } });
  }, 120_000);

  afterAll(() => h.close(), 60_000);

  afterEach(() => expect(h.leaks()).toEqual([]));

  describe('accounts', () => {
    it('identity answers identity.account.exists.v1 over the bus: yes for its account, no for an id it never issued', async () => {
      const a = await h.account();
      const bus = h.app.get(EventBus);
      await expect(bus.request(accountExistsV1, { accountId: a.id })).resolves.toEqual({ accountId: a.id, exists: true });
      const made = randomUUID();
      await expect(bus.request(accountExistsV1, { accountId: made })).resolves.toEqual({ accountId: made, exists: false });
    });

    it("otp enrols an authenticator and backup codes for identity's new account at once, and refuses a made-up id (404 not_found)", async () => {
      const a = await h.account();
      // Right after the 201: whether otp has the account's event yet or asks identity.
      const enrolled = await h.otpCall('POST', `/v1/accounts/${a.id}/authenticators/totp`, {});
      expect(enrolled.status).toBe(201);
      h.keep(String(enrolled.body.secret));
      const codes = await h.otpCall('POST', `/v1/accounts/${a.id}/backup-codes`, {});
      expect(codes.status).toBe(201);
      for (const c of codes.body.codes as string[]) h.keep(c);

      const made = randomUUID();
      const refused = await h.otpCall('POST', `/v1/accounts/${made}/authenticators/totp`, {});
      expect(refused.status).toBe(404);
      expect(refused.body).toMatchObject({ code: 'not_found' });
      expect(refused.body.secret).toBeUndefined();
      const noCodes = await h.otpCall('POST', `/v1/accounts/${made}/backup-codes`, {});
      expect(noCodes.status).toBe(404);
      expect(noCodes.body.codes).toBeUndefined();
    });
  });

  describe('a report of a phone-verification code', () => {
    /** An account with a pending number whose code its owner reported ("I didn't ask for this"). */
    async function reportedNumber() {
      const a = await h.account();
      const number = h.phone();
      const added = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number });
      expect(added.status).toBe(202);
      const challengeId = String(added.body.verification.challengeId);
      const code = await h.codeFor(challengeId);
      expect((await h.reportCode(challengeId)).body).toMatchObject({ status: 'reported' });
      // Past the add's resend cooldown: a resend would be allowed but for the report.
      await sleep(Math.max(0, Date.parse(added.body.verification.resendAvailableAt) - Date.now()) + 100);
      return { a, number, phoneId: String(added.body.phoneId), code };
    }
    const codesTo = (to: string, since: number) =>
      h.tap.of('notification.requested.v1').filter((t) => t.data['to'] === to && t.at >= since && String(t.data['template']).startsWith('otp.'));
    const numbersOf = async (accountId: string) => ((await h.call('GET', `/v1/accounts/${accountId}`)).body.phones as { phoneId: string }[]).map((p) => p.phoneId);

    it('ends the pending verification: a resend sends nothing (410), the number is gone', async () => {
      const { a, number, phoneId } = await reportedNumber();
      const since = Date.now();
      const resent = await h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/resend`, {});
      expect([resent.status, resent.body.code]).toEqual([410, 'code_expired']);
      expect(await numbersOf(a.id)).toEqual([]);
      expect((await h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/resend`, {})).status).toBe(404);
      expect((await h.call('PUT', `/v1/accounts/${a.id}/phones/${phoneId}`, { number })).status).toBe(404);
      await sleep(500);
      expect(codesTo(number, since).length).toBe(0);
    });

    it("ends it on a verification with the reported code too (410), and the number's code is not sent again by a PUT of the same number", async () => {
      const { a, number, phoneId, code } = await reportedNumber();
      const since = Date.now();
      const verified = await h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/verify`, { code });
      expect([verified.status, verified.body.code]).toEqual([410, 'code_expired']);
      expect(await numbersOf(a.id)).toEqual([]);
      expect((await h.call('PUT', `/v1/accounts/${a.id}/phones/${phoneId}`, { number })).status).toBe(404);
      await sleep(500);
      expect(codesTo(number, since).length).toBe(0);
    });

    it('a PUT of the same pending number after a report ends it too: 410, nothing sent', async () => {
      const { a, number, phoneId } = await reportedNumber();
      const since = Date.now();
      const again = await h.call('PUT', `/v1/accounts/${a.id}/phones/${phoneId}`, { number });
      expect([again.status, again.body.code]).toEqual([410, 'code_expired']);
      expect(await numbersOf(a.id)).toEqual([]);
      await sleep(500);
      expect(codesTo(number, since).length).toBe(0);
    });
  });

  describe('a report of a sign-in code that had already expired', () => {
    const signIn = (email: string, password: string, device: string) =>
      h.call('POST', '/v1/sessions', { email, password, device: { id: device, name: 'Test phone', ip: ip() } });

    async function challengedAccount(device: string) {
      const a = await h.account();
      await h.verifiedPhone(a.id);
      await h.twoStep(a.id, { method: 'sms', backupMethod: 'email' });
      const started = await signIn(a.email, a.password, device);
      expect(started.status).toBe(202);
      const code = await h.codeFor(started.body.challenge.id);
      return { ...a, loginId: String(started.body.loginId), challengeId: String(started.body.challenge.id), code, expiresAt: Date.parse(started.body.challenge.expiresAt) };
    }

    const codesSentFor = (challengeIds: Set<string>) =>
      h.tap.of('notification.requested.v1').filter((t) => challengeIds.has(String((t.data['origin'] as { ref?: string } | undefined)?.ref)));

    it('ends the sign-in: no new code (410), no finish (410); a sign-in nobody reported resends as before (202)', async () => {
      const [reported, control] = await Promise.all([challengedAccount('late-1'), challengedAccount('late-2')]);
      // Both codes expire, and otp's sweeper marks them expired (its event), before the owner reports.
      await sleep(Math.max(reported.expiresAt, control.expiresAt) - Date.now() + 200);
      await Promise.all(
        [reported, control].map((s) => h.tap.waitFor((t) => t.envelope.type === 'otp.challenge.expired.v1' && t.data['challengeId'] === s.challengeId)),
      );
      expect((await h.reportCode(reported.challengeId)).body).toMatchObject({ status: 'reported' });
      const sentBefore = h.tap.of('notification.requested.v1').length;

      const url = `/v1/sessions/${reported.loginId}`;
      const resent = await h.call('POST', `${url}/resend`, {});
      expect(resent.status).toBe(410);
      expect(resent.body.code).toBe('code_expired');
      expect((await h.call('POST', `${url}/resend`, { channel: 'email' })).status).toBe(410);
      expect((await h.call('POST', `${url}/verify`, { code: reported.code })).status).toBe(410);

      const controlResent = await h.call('POST', `/v1/sessions/${control.loginId}/resend`, {});
      expect(controlResent.status).toBe(202);
      const fresh = String(controlResent.body.challenge.id);
      expect(fresh).not.toBe(control.challengeId);
      await h.codeFor(fresh);
      // The only code sent since the report is the control's.
      await sleep(300);
      const since = h.tap.of('notification.requested.v1').slice(sentBefore);
      expect(since.filter((t) => t.data['template'] !== 'security.code_reported').map((t) => (t.data['origin'] as { ref?: string }).ref)).toEqual([fresh]);
      expect(codesSentFor(new Set([reported.challengeId]))).toHaveLength(1);
    });
  });
});
