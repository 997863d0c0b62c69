import { OPS_ONLY_KEY, Harness, sleep, totp } from './support/harness';

jest.setTimeout(60_000);

/**
 * Accounts, numbers and two-step settings over HTTP against the running
 * identity service, with real PostgreSQL, Redis, RabbitMQ and the otp
 * service as a process.
 */
describe('identity: accounts, phones, two-step', () => {
  const h = new Harness();
  /** A number added at the start and checked at the end, after its code expired (OTP_PHONE_TTL=30s). */
  let expiring: { accountId: string; phoneId: string; challengeId: string; addedAt: number };

  beforeAll(async () => {
    await h.start({ otpEnv: { OTP_PHONE_TTL: '30s' } });
    const a = await h.account();
    const added = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: h.phone() });
    if (added.status !== 202) throw new Error(`add: ${added.status} ${JSON.stringify(added.body)}`);
    expiring = { accountId: a.id, phoneId: added.body.phoneId, challengeId: added.body.verification.challengeId, addedAt: Date.now() };
  }, 120_000);

  afterAll(() => h.close(), 60_000);

  describe('accounts', () => {
    it('creates an account (201) and reads it back with phones and two-step (200)', async () => {
      const email = h.email();
      const created = await h.call('POST', '/v1/accounts', { email, password: h.password(), name: 'Ana', locale: 'es' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ email, phones: [], twoStep: { enabled: false, method: null } });
      const read = await h.call('GET', `/v1/accounts/${created.body.id}`);
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ id: created.body.id, email, name: 'Ana', locale: 'es', phones: [] });
      const event = await h.tap.waitFor((m) => m.envelope.type === 'identity.account.created.v1' && m.data['accountId'] === created.body.id);
      expect(event.data).toMatchObject({ email, locale: 'es' });
    });

    it('refuses an e-mail already taken in another case (409 email_taken)', async () => {
      const a = await h.account();
      const res = await h.call('POST', '/v1/accounts', { email: a.email.toUpperCase(), password: h.password() });
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('email_taken');
    });

    it('answers 404 for an unknown account and 422 for bad fields', async () => {
      expect((await h.call('GET', '/v1/accounts/4d1c6a1e-0000-4000-8000-000000000001')).body.code).toBe('not_found');
      expect((await h.call('GET', '/v1/accounts/not-a-uuid')).status).toBe(404);
      const bad = await h.call('POST', '/v1/accounts', { email: 'nope', password: 'short' });
      expect(bad.status).toBe(422);
      expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['email', 'password']);
    });

    it('replays the first answer for a retried POST with the same Idempotency-Key', async () => {
      const body = { email: h.email(), password: h.password() };
      const headers = { 'idempotency-key': `acc-${Date.now()}` };
      const first = await h.call('POST', '/v1/accounts', body, headers);
      const again = await h.call('POST', '/v1/accounts', body, headers);
      expect(first.status).toBe(201);
      expect(again.status).toBe(201);
      expect(again.body).toEqual(first.body);
    });

    it('needs a storefront key: 401 without or with a wrong one, 403 without the scope', async () => {
      expect((await h.call('GET', '/v1/accounts/x', undefined, { authorization: '' })).status).toBe(401);
      expect((await h.call('GET', '/v1/accounts/x', undefined, { authorization: 'Bearer wrong' })).status).toBe(401);
      expect((await h.call('GET', '/v1/accounts/x', undefined, { authorization: `Bearer ${OPS_ONLY_KEY}` })).status).toBe(403);
    });
  });

  describe('phones', () => {
    it('adds a number (202, masked destination) and verifies it (200); the first verified becomes primary', async () => {
      const a = await h.account();
      const number = h.phone();
      const added = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number });
      expect(added.status).toBe(202);
      expect(added.body).toMatchObject({ status: 'pending', verification: { channel: 'sms' } });
      expect(added.body.verification.to).toContain(number.slice(-2));
      expect(added.body.verification.to).not.toContain(number.slice(2, -2));
      expect(added.body.verification.expiresAt).toBeDefined();
      expect(added.body.verification.resendAvailableAt).toBeDefined();
      await h.tap.waitFor((m) => m.envelope.type === 'identity.phone.added.v1' && m.data['phoneId'] === added.body.phoneId);

      const code = await h.codeFor(added.body.verification.challengeId);
      const verified = await h.call('POST', `/v1/accounts/${a.id}/phones/${added.body.phoneId}/verify`, { code });
      expect(verified.status).toBe(200);
      expect(verified.body).toEqual({ phoneId: added.body.phoneId, status: 'verified', primary: true });
      const read = await h.call('GET', `/v1/accounts/${a.id}`);
      expect(read.body.phones).toEqual([expect.objectContaining({ phoneId: added.body.phoneId, number, status: 'verified', primary: true })]);
      const event = await h.tap.waitFor((m) => m.envelope.type === 'identity.phone.verified.v1' && m.data['phoneId'] === added.body.phoneId);
      expect(event.data).toMatchObject({ accountId: a.id, e164: number, primary: true });
      const alert = await h.tap.waitFor((m) => m.data['to'] === a.email && m.data['template'] === 'security.phone_added');
      expect(alert.data).toMatchObject({ priority: 'critical', channel: 'email', accountId: a.id });
      expect(JSON.stringify(alert.data['variables'])).not.toContain(number.slice(2));
    });

    it('accepts national form with a country and answers E.164', async () => {
      const a = await h.account();
      const number = h.phone();
      const national = `(${number.slice(2, 5)}) ${number.slice(5, 8)}-${number.slice(8)}`;
      const added = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: national, country: 'US' });
      expect(added.status).toBe(202);
      const read = await h.call('GET', `/v1/accounts/${a.id}`);
      expect(read.body.phones[0].number).toBe(number);
    });

    it('answers 422 invalid_phone_number for bad numbers, and for a fixed line by SMS; takes the fixed line by voice', async () => {
      const a = await h.account();
      for (const body of [{ number: '12345' }, { number: '4155550123' }, { number: '+1 415 CALL NOW' }, { number: '07911 123456', country: 'XX' }]) {
        const res = await h.call('POST', `/v1/accounts/${a.id}/phones`, body);
        expect(res.status).toBe(422);
        expect(res.body.code).toBe('invalid_phone_number');
      }
      const fixed = h.fixedLine();
      const bySms = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: fixed });
      expect(bySms.body.code).toBe('invalid_phone_number');
      const byVoice = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: fixed, channel: 'voice' });
      expect(byVoice.status).toBe(202);
      expect(byVoice.body.verification.channel).toBe('voice');
      const toSms = await h.call('POST', `/v1/accounts/${a.id}/phones/${byVoice.body.phoneId}/resend`, { channel: 'sms' });
      expect(toSms.status).toBe(422);
      expect(toSms.body.code).toBe('invalid_phone_number');
      const code = await h.codeFor(byVoice.body.verification.challengeId);
      expect((await h.call('POST', `/v1/accounts/${a.id}/phones/${byVoice.body.phoneId}/verify`, { code })).status).toBe(200);
    });

    it('refuses a third number (409 phone_limit_reached)', async () => {
      const a = await h.account();
      await h.verifiedPhone(a.id);
      expect((await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: h.phone() })).status).toBe(202);
      const third = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: h.phone() });
      expect(third.status).toBe(409);
      expect(third.body.code).toBe('phone_limit_reached');
    });

    it('adding a pending number again sends a fresh code for the same phone (202); adding a verified one again is 409 phone_in_use', async () => {
      const a = await h.account();
      const number = h.phone();
      const first = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number });
      expect(first.status).toBe(202);
      await sleep(1_100); // the otp service's resend cooldown in these tests
      const resentAt = Date.now();
      const again = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number });
      expect(again.status).toBe(202);
      expect(again.body).toMatchObject({ phoneId: first.body.phoneId, status: 'pending' });
      expect((await h.call('GET', `/v1/accounts/${a.id}`)).body.phones).toHaveLength(1);
      const code = await h.codeFor(again.body.verification.challengeId, resentAt);
      expect((await h.call('POST', `/v1/accounts/${a.id}/phones/${first.body.phoneId}/verify`, { code })).status).toBe(200);
      const verifiedAgain = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number });
      expect(verifiedAgain.status).toBe(409);
      expect(verifiedAgain.body.code).toBe('phone_in_use');
    });

    it('concurrent adds to one account stay within the limit (one 202, the other 409 phone_limit_reached)', async () => {
      const a = await h.account();
      await h.verifiedPhone(a.id);
      const results = await Promise.all([h.phone(), h.phone()].map((number) => h.call('POST', `/v1/accounts/${a.id}/phones`, { number })));
      expect(results.map((r) => r.status).sort()).toEqual([202, 409]);
      expect(results.find((r) => r.status === 409)!.body.code).toBe('phone_limit_reached');
      expect((await h.call('GET', `/v1/accounts/${a.id}`)).body.phones).toHaveLength(2);
    });

    it('refuses a number verified on another account (409 phone_in_use); a pending one blocks no one', async () => {
      const [a, b, c] = [await h.account(), await h.account(), await h.account()];
      const number = h.phone();
      const pendingOnA = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number });
      expect(pendingOnA.status).toBe(202);
      await h.verifiedPhone(b.id, number);
      const onC = await h.call('POST', `/v1/accounts/${c.id}/phones`, { number });
      expect(onC.status).toBe(409);
      expect(onC.body.code).toBe('phone_in_use');
    });

    it('answers 429 with Retry-After when a number was sent too many codes (the otp service\'s per-destination limit)', async () => {
      const number = h.phone();
      for (let i = 0; i < 5; i++) {
        const a = await h.account();
        expect((await h.call('POST', `/v1/accounts/${a.id}/phones`, { number })).status).toBe(202);
      }
      const a = await h.account();
      const limited = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      // Nothing was kept for the refused number.
      expect((await h.call('GET', `/v1/accounts/${a.id}`)).body.phones).toEqual([]);
    });

    it('two accounts racing to verify the same number: exactly one wins', async () => {
      const [a, b] = [await h.account(), await h.account()];
      const number = h.phone();
      const addA = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number });
      const addB = await h.call('POST', `/v1/accounts/${b.id}/phones`, { number });
      const [codeA, codeB] = [await h.codeFor(addA.body.verification.challengeId), await h.codeFor(addB.body.verification.challengeId)];
      const results = await Promise.all([
        h.call('POST', `/v1/accounts/${a.id}/phones/${addA.body.phoneId}/verify`, { code: codeA }),
        h.call('POST', `/v1/accounts/${b.id}/phones/${addB.body.phoneId}/verify`, { code: codeB }),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
      expect(results.find((r) => r.status === 409)!.body.code).toBe('phone_in_use');
      const owners = await Promise.all([a, b].map(async (x) => (await h.call('GET', `/v1/accounts/${x.id}`)).body.phones.filter((p: { status: string }) => p.status === 'verified').length as number));
      expect(owners.sort()).toEqual([0, 1]);
    });

    it('answers 422 code_mismatch with attemptsRemaining, then 429 too_many_attempts (the right code is then refused)', async () => {
      const a = await h.account();
      const added = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: h.phone() });
      const code = await h.codeFor(added.body.verification.challengeId);
      const wrong = code === '000000' ? '111111' : '000000';
      const url = `/v1/accounts/${a.id}/phones/${added.body.phoneId}/verify`;
      const first = await h.call('POST', url, { code: wrong });
      expect(first.status).toBe(422);
      expect(first.body).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 4 });
      for (let i = 0; i < 3; i++) expect((await h.call('POST', url, { code: wrong })).status).toBe(422);
      const locked = await h.call('POST', url, { code: wrong });
      expect(locked.status).toBe(429);
      expect(locked.body.code).toBe('too_many_attempts');
      // Honest: the locked challenge lives on until its expiry (OTP_PHONE_TTL=30s here), not 1 s.
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(20);
      expect(Number(locked.headers.get('retry-after'))).toBeLessThanOrEqual(30);
      expect((await h.call('POST', url, { code })).body.code).toBe('too_many_attempts');
    });

    it('resends: 429 with Retry-After during the cooldown, then switches SMS to voice; only the newest code works', async () => {
      const a = await h.account();
      const added = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: h.phone() });
      const challengeId = added.body.verification.challengeId;
      const oldCode = await h.codeFor(challengeId);
      const url = `/v1/accounts/${a.id}/phones/${added.body.phoneId}`;
      const early = await h.call('POST', `${url}/resend`, {});
      expect(early.status).toBe(429);
      expect(Number(early.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      await sleep(1_100);
      const since = Date.now();
      const voice = await h.call('POST', `${url}/resend`, { channel: 'voice' });
      expect(voice.status).toBe(202);
      expect(voice.body.verification).toMatchObject({ challengeId, channel: 'voice' });
      const newCode = await h.codeFor(challengeId, since);
      const voiceMessage = await h.tap.waitFor((m) => (m.data['origin'] as { ref?: string })?.ref === challengeId && m.data['channel'] === 'voice', since);
      expect(voiceMessage).toBeDefined();
      if (newCode !== oldCode) expect((await h.call('POST', `${url}/verify`, { code: oldCode })).status).toBe(422);
      expect((await h.call('POST', `${url}/verify`, { code: newCode })).status).toBe(200);
    });

    it('changes a number: the old one keeps working until the new one is verified, then is replaced', async () => {
      const a = await h.account();
      const old = await h.verifiedPhone(a.id);
      const next = h.phone();
      // A verified number's change needs a step-up (S8).
      const change = await h.call('PUT', `/v1/accounts/${a.id}/phones/${old.phoneId}`, { number: next, stepUpId: await h.stepUp(a.id) });
      expect(change.status).toBe(202);
      expect(change.body).toMatchObject({ status: 'pending', replacesPhoneId: old.phoneId });
      const during = await h.call('GET', `/v1/accounts/${a.id}`);
      expect(during.body.phones).toEqual([
        expect.objectContaining({ phoneId: old.phoneId, number: old.number, status: 'verified', primary: true }),
        expect.objectContaining({ phoneId: change.body.phoneId, number: next, status: 'pending', replacesPhoneId: old.phoneId }),
      ]);
      const code = await h.codeFor(change.body.verification.challengeId);
      const verified = await h.call('POST', `/v1/accounts/${a.id}/phones/${change.body.phoneId}/verify`, { code });
      expect(verified.status).toBe(200);
      expect(verified.body.primary).toBe(true);
      const after = await h.call('GET', `/v1/accounts/${a.id}`);
      expect(after.body.phones).toEqual([expect.objectContaining({ phoneId: change.body.phoneId, number: next, status: 'verified', primary: true, replacesPhoneId: null })]);
      await h.tap.waitFor((m) => m.envelope.type === 'identity.phone.removed.v1' && m.data['phoneId'] === old.phoneId && m.data['reason'] === 'replaced');
      await h.tap.waitFor((m) => m.data['to'] === a.email && m.data['template'] === 'security.phone_changed');
      // S8: the old number is told too.
      await h.tap.waitFor((m) => m.data['to'] === old.number && m.data['template'] === 'security.phone_changed' && m.envelope.source === 'identity');
      // The old number is free again.
      const b = await h.account();
      expect((await h.call('POST', `/v1/accounts/${b.id}/phones`, { number: old.number })).status).toBe(202);
    });

    it('makes a verified number primary (200); a pending one is 409 phone_not_verified', async () => {
      const a = await h.account();
      const first = await h.verifiedPhone(a.id);
      const second = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: h.phone() });
      const refused = await h.call('POST', `/v1/accounts/${a.id}/phones/${second.body.phoneId}/primary`);
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe('phone_not_verified');
      const code = await h.codeFor(second.body.verification.challengeId);
      expect((await h.call('POST', `/v1/accounts/${a.id}/phones/${second.body.phoneId}/verify`, { code })).body.primary).toBe(false);
      // Another number made primary needs a step-up (S8).
      const made = await h.call('POST', `/v1/accounts/${a.id}/phones/${second.body.phoneId}/primary`, { stepUpId: await h.stepUp(a.id) });
      expect(made.status).toBe(200);
      expect(made.body).toEqual({ phoneId: second.body.phoneId, status: 'verified', primary: true });
      const phones = (await h.call('GET', `/v1/accounts/${a.id}`)).body.phones;
      expect(phones.find((p: { phoneId: string }) => p.phoneId === first.phoneId).primary).toBe(false);
      await h.tap.waitFor((m) => m.envelope.type === 'identity.phone.primary_changed.v1' && m.data['phoneId'] === second.body.phoneId);
    });

    it('deregistering the primary promotes the other (204): with two-step by SMS on it, that needs a step-up (S8); the other verified number takes over two-step', async () => {
      const a = await h.account();
      const first = await h.verifiedPhone(a.id);
      const second = await h.verifiedPhone(a.id);
      expect((await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'sms' })).status).toBe(200);

      expect((await h.call('DELETE', `/v1/accounts/${a.id}/phones/${first.phoneId}`)).body.code).toBe('step_up_required');
      expect((await h.call('DELETE', `/v1/accounts/${a.id}/phones/${first.phoneId}`, { stepUpId: await h.stepUp(a.id) })).status).toBe(204);
      const read = await h.call('GET', `/v1/accounts/${a.id}`);
      expect(read.body.phones).toEqual([expect.objectContaining({ phoneId: second.phoneId, primary: true })]);
      expect(read.body.twoStep).toEqual({ enabled: true, method: 'sms', backupMethod: null });
      await h.tap.waitFor((m) => m.envelope.type === 'identity.phone.primary_changed.v1' && m.data['phoneId'] === second.phoneId);
      await h.tap.waitFor((m) => m.data['to'] === a.email && m.data['template'] === 'security.phone_removed');
    });

    it('removing the last number that carries two-step turns it off (S8): 403 step_up_required without a fresh step-up, 204 with one; the e-mail is told', async () => {
      const a = await h.account();
      const phone = await h.verifiedPhone(a.id);
      expect((await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'sms' })).status).toBe(200);
      const url = `/v1/accounts/${a.id}/phones/${phone.phoneId}`;

      const refused = await h.call('DELETE', url);
      expect(refused.status).toBe(403);
      expect(refused.body.code).toBe('step_up_required');
      const stepUp = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up`, {});
      expect(stepUp.status).toBe(201);
      // Started but not confirmed: still refused.
      expect((await h.call('DELETE', url, { stepUpId: stepUp.body.stepUpId })).body.code).toBe('step_up_required');
      const code = await h.codeFor(stepUp.body.challenge.id);
      const wrong = await h.call('DELETE', url, { stepUpId: stepUp.body.stepUpId, code: code === '000000' ? '111111' : '000000' });
      expect(wrong.status).toBe(422);
      expect(wrong.body.code).toBe('code_mismatch');
      let read = await h.call('GET', `/v1/accounts/${a.id}`);
      expect(read.body.phones).toEqual([expect.objectContaining({ phoneId: phone.phoneId, status: 'verified' })]);
      expect(read.body.twoStep).toEqual({ enabled: true, method: 'sms', backupMethod: null });

      expect((await h.call('DELETE', url, { stepUpId: stepUp.body.stepUpId, code })).status).toBe(204);
      read = await h.call('GET', `/v1/accounts/${a.id}`);
      expect(read.body.phones).toEqual([]);
      expect(read.body.twoStep).toEqual({ enabled: false, method: null, backupMethod: null });
      const changed = await h.tap.waitFor((m) => m.envelope.type === 'identity.two_step.changed.v1' && m.data['accountId'] === a.id && m.data['reason'] === 'phone_removed');
      expect(changed.data).toMatchObject({ enabled: false });
      await h.tap.waitFor((m) => m.data['to'] === a.email && m.data['template'] === 'security.two_step_disabled');
      expect((await h.call('DELETE', url)).status).toBe(404);

      // A step-up is used once.
      const again = await h.verifiedPhone(a.id);
      expect((await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'voice' })).status).toBe(200);
      const reused = await h.call('DELETE', `/v1/accounts/${a.id}/phones/${again.phoneId}`, { stepUpId: stepUp.body.stepUpId });
      expect(reused.status).toBe(403);
    });

    it('a step-up confirmed before also allows removing the last number; with two-step off, or only a phone backup dropped, one is needed too (the primary, a change of two-step)', async () => {
      const a = await h.account();
      const phone = await h.verifiedPhone(a.id);
      expect((await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'voice' })).status).toBe(200);
      const stepUp = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up`, { channel: 'sms' });
      const code = await h.codeFor(stepUp.body.challenge.id);
      expect((await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up/${stepUp.body.stepUpId}/verify`, { code })).status).toBe(200);
      expect((await h.call('DELETE', `/v1/accounts/${a.id}/phones/${phone.phoneId}`, { stepUpId: stepUp.body.stepUpId })).status).toBe(204);
      expect((await h.call('GET', `/v1/accounts/${a.id}/two-step`)).body).toEqual({ enabled: false, method: null, backupMethod: null });

      const off = await h.account();
      const offPhone = await h.verifiedPhone(off.id);
      expect((await h.call('DELETE', `/v1/accounts/${off.id}/phones/${offPhone.phoneId}`)).body.code).toBe('step_up_required');
      expect((await h.call('DELETE', `/v1/accounts/${off.id}/phones/${offPhone.phoneId}`, { stepUpId: await h.stepUp(off.id) })).status).toBe(204);

      const byApp = await h.account();
      const backup = await h.verifiedPhone(byApp.id);
      await h.authenticator(byApp.id);
      expect((await h.call('PUT', `/v1/accounts/${byApp.id}/two-step`, { enabled: true, method: 'totp', backupMethod: 'sms' })).status).toBe(200);
      expect((await h.call('DELETE', `/v1/accounts/${byApp.id}/phones/${backup.phoneId}`)).body.code).toBe('step_up_required');
      expect((await h.call('DELETE', `/v1/accounts/${byApp.id}/phones/${backup.phoneId}`, { stepUpId: await h.stepUp(byApp.id, 'sms') })).status).toBe(204);
      expect((await h.call('GET', `/v1/accounts/${byApp.id}/two-step`)).body).toEqual({ enabled: true, method: 'totp', backupMethod: null });
    });

    it('two numbers removed at once, only the primary with a step-up: two-step never goes off without one', async () => {
      const a = await h.account();
      const first = await h.verifiedPhone(a.id);
      const second = await h.verifiedPhone(a.id);
      expect((await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'sms' })).status).toBe(200);
      const stepUpId = await h.stepUp(a.id);
      const [primary, other] = await Promise.all([
        h.call('DELETE', `/v1/accounts/${a.id}/phones/${first.phoneId}`, { stepUpId }),
        h.call('DELETE', `/v1/accounts/${a.id}/phones/${second.phoneId}`),
      ]);
      expect(primary.status).toBe(204);
      const read = await h.call('GET', `/v1/accounts/${a.id}`);
      if (other.status === 403) {
        // The primary went first: the other was then the last number carrying two-step (checked again under the lock).
        expect(other.body.code).toBe('step_up_required');
        expect(read.body.phones).toEqual([expect.objectContaining({ phoneId: second.phoneId, primary: true })]);
        expect(read.body.twoStep).toEqual({ enabled: true, method: 'sms', backupMethod: null });
      } else {
        // The other went first: the primary, then the last, turned two-step off with its step-up.
        expect(other.status).toBe(204);
        expect(read.body.phones).toEqual([]);
        expect(read.body.twoStep).toEqual({ enabled: false, method: null, backupMethod: null });
      }
    });
  });

  describe('two-step', () => {
    it('reads settings (200) and refuses to turn on without a ready factor (409 factor_not_ready)', async () => {
      const a = await h.account();
      const read = await h.call('GET', `/v1/accounts/${a.id}/two-step`);
      expect(read.status).toBe(200);
      expect(read.body).toEqual({ enabled: false, method: null, backupMethod: null });
      for (const method of ['sms', 'voice', 'totp']) {
        const res = await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method });
        expect(res.status).toBe(409);
        expect(res.body.code).toBe('factor_not_ready');
      }
      const email = await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'email' });
      expect(email.status).toBe(422);
      expect(email.body.errors[0]).toMatchObject({ field: 'method', code: 'not_allowed' });
    });

    it('turns on by SMS with a verified number; off needs a step-up (403 step_up_required), given with its code', async () => {
      const a = await h.account();
      const phone = await h.verifiedPhone(a.id);
      const on = await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'sms', backupMethod: 'email' });
      expect(on.status).toBe(200);
      expect(on.body).toEqual({ enabled: true, method: 'sms', backupMethod: 'email' });
      await h.tap.waitFor((m) => m.envelope.type === 'identity.two_step.changed.v1' && m.data['accountId'] === a.id && m.data['enabled'] === true);

      const off = await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: false });
      expect(off.status).toBe(403);
      expect(off.body.code).toBe('step_up_required');

      const stepUp = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up`, {});
      expect(stepUp.status).toBe(201);
      expect(stepUp.body).toMatchObject({ factor: 'sms', challenge: { channel: 'sms' } });
      expect(stepUp.body.challenge.to).toContain(phone.number.slice(-2));
      const code = await h.codeFor(stepUp.body.challenge.id);
      const wrong = await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: false, stepUpId: stepUp.body.stepUpId, code: code === '000000' ? '111111' : '000000' });
      expect(wrong.body.code).toBe('code_mismatch');
      const done = await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: false, stepUpId: stepUp.body.stepUpId, code });
      expect(done.status).toBe(200);
      expect(done.body).toEqual({ enabled: false, method: null, backupMethod: null });
      await h.tap.waitFor((m) => m.data['to'] === a.email && m.data['template'] === 'security.two_step_disabled');
    });

    it('changing the method needs a step-up approved in the last 5 minutes; a step-up is used once', async () => {
      const a = await h.account();
      await h.verifiedPhone(a.id);
      await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'sms' });
      const secret = await h.authenticator(a.id);

      const noStepUp = await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'totp' });
      expect(noStepUp.body.code).toBe('step_up_required');
      const stepUp = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up`, { channel: 'voice' });
      expect(stepUp.body.challenge.channel).toBe('voice');
      const notYet = await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'totp', stepUpId: stepUp.body.stepUpId });
      expect(notYet.body.code).toBe('step_up_required');
      const code = await h.codeFor(stepUp.body.challenge.id);
      const approved = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up/${stepUp.body.stepUpId}/verify`, { code });
      expect(approved.status).toBe(200);
      expect(approved.body).toMatchObject({ status: 'approved' });
      const changed = await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'totp', backupMethod: 'sms', stepUpId: stepUp.body.stepUpId });
      expect(changed.status).toBe(200);
      expect(changed.body).toEqual({ enabled: true, method: 'totp', backupMethod: 'sms' });
      const reused = await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: false, stepUpId: stepUp.body.stepUpId });
      expect(reused.body.code).toBe('step_up_required');

      // With TOTP as the method, a step-up takes an authenticator code (verified by otp.factor.verify).
      const byTotp = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up`, {});
      expect(byTotp.body).toMatchObject({ factor: 'totp', challenge: null });
      const off = await h.call('PUT', `/v1/accounts/${a.id}/two-step`, {
        enabled: false,
        stepUpId: byTotp.body.stepUpId,
        code: h.keep(totp(secret, Math.floor(Date.now() / 30_000) + 1)),
      });
      expect(off.status).toBe(200);
      expect(off.body.enabled).toBe(false);
    });

    it('a step-up code is bound to its step-up (C6): a phone verification code does not approve it', async () => {
      const a = await h.account();
      await h.verifiedPhone(a.id);
      const pending = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: h.phone() });
      const phoneCode = await h.codeFor(pending.body.verification.challengeId);
      const stepUp = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up`, {});
      const stepUpCode = await h.codeFor(stepUp.body.challenge.id);
      if (phoneCode !== stepUpCode) {
        const res = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up/${stepUp.body.stepUpId}/verify`, { code: phoneCode });
        expect(res.status).toBe(422);
      }
      expect((await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up/${stepUp.body.stepUpId}/verify`, { code: stepUpCode })).status).toBe(200);
    });
  });

  it('documents every route in the OpenAPI document', async () => {
    const doc = (await fetch(`${h.base}/docs-json`).then((r) => r.json())) as { paths: Record<string, Record<string, unknown>> };
    const paths = Object.keys(doc.paths);
    for (const p of [
      '/v1/accounts',
      '/v1/accounts/{accountId}',
      '/v1/accounts/{accountId}/phones',
      '/v1/accounts/{accountId}/phones/{phoneId}',
      '/v1/accounts/{accountId}/phones/{phoneId}/verify',
      '/v1/accounts/{accountId}/phones/{phoneId}/resend',
      '/v1/accounts/{accountId}/phones/{phoneId}/primary',
      '/v1/accounts/{accountId}/two-step',
      '/v1/accounts/{accountId}/two-step/step-up',
      '/v1/accounts/{accountId}/two-step/step-up/{stepUpId}/verify',
      '/v1/sessions',
      '/v1/sessions/{loginId}/verify',
      '/v1/sessions/{loginId}/resend',
      '/v1/accounts/{accountId}/devices/{deviceId}',
      '/v1/password-resets',
      '/v1/password-resets/{resetId}/complete',
      '/.well-known/jwks.json',
    ]) {
      expect(paths).toContain(p);
    }
    expect(JSON.stringify(doc.paths['/v1/accounts/{accountId}/two-step']?.['put'])).toContain('stepUpId');
  });

  it('answers 410 code_expired for a code past its lifetime', async () => {
    await sleep(Math.max(0, expiring.addedAt + 31_000 - Date.now()));
    const code = await h.codeFor(expiring.challengeId);
    const res = await h.call('POST', `/v1/accounts/${expiring.accountId}/phones/${expiring.phoneId}/verify`, { code });
    expect(res.status).toBe(410);
    expect(res.body.code).toBe('code_expired');
  }, 45_000);

  it('never logs a full number, a code, a password or a token (identity and otp logs)', () => {
    // The check itself finds a planted secret.
    const probe = new Harness();
    probe.logs.lines.push('{"msg":"oops +14155550123"}');
    probe.secrets.add('+14155550123');
    expect(probe.leaks()).toEqual(['+14155550123']);
    // A code logged is found; the same digits inside a UUID or a timestamp are not a leak.
    probe.secrets.add('867840');
    probe.logs.lines.push('{"time":1765158678401,"requestId":"1f3c0a2e-4867-8402-9b1d-0c867840aa1b"}');
    expect(probe.leaks()).toEqual(['+14155550123']);
    probe.logs.lines.push('{"msg":"sent","text":"Your code is 867840. Never share it."}');
    expect(probe.leaks()).toEqual(['+14155550123', '867840']);

    expect(h.secrets.size).toBeGreaterThan(20);
    expect(h.logs.lines.length).toBeGreaterThan(10);
    expect(h.otpOutput.length).toBeGreaterThan(10);
    expect(h.leaks()).toEqual([]);
  });
});
