import { getFactorsV1, verifyFactorV1 } from '@phonegate/contracts';
import { EventBus } from '@phonegate/messaging';
import { Harness, type HttpAnswer, totp } from './support/harness';

jest.setTimeout(90_000);

/**
 * S8: one approved step-up code allows one privileged change, whether it is spent at identity
 * (its stepUpId: two-step, numbers) or at otp (its challenge.id: replacing the authenticator,
 * a new set of backup codes), never one at each. Real PostgreSQL, Redis, RabbitMQ and the otp
 * service as a process.
 */
describe('identity and otp: a step-up code approved once is spent once, at identity or at otp (S8)', () => {
  const h = new Harness();

  beforeAll(() => h.start(), 120_000);
  afterAll(() => h.close(), 60_000);

  const bus = () => h.app.get(EventBus);

  /**
   * An account with a verified number, two-step by SMS and its first set of backup codes (free);
   * with `authenticator`, also its first authenticator (free), taken as two-step's backup.
   */
  async function account(options: { authenticator?: boolean } = {}) {
    const a = await h.account();
    const phone = await h.verifiedPhone(a.id);
    const secret = options.authenticator ? await h.authenticator(a.id) : undefined;
    await h.twoStep(a.id, { method: 'sms', ...(secret ? { backupMethod: 'totp' as const } : {}) });
    const first = await reissue(a.id);
    expect(first.status).toBe(201);
    return { ...a, phone, secret, backupCodes: (first.body as { codes: string[] }).codes.map((c) => h.keep(c)) };
  }

  /** An SMS step-up, started (and approved with its code unless `approve` is false): identity's stepUpId and its otp challenge id. */
  async function stepUp(accountId: string, approve = true) {
    const started = await h.call('POST', `/v1/accounts/${accountId}/two-step/step-up`, { channel: 'sms' });
    expect(started.status).toBe(201);
    const stepUpId = String(started.body.stepUpId);
    const challengeId = String(started.body.challenge.id);
    const code = await h.codeFor(challengeId);
    if (approve) {
      const approved = await h.call('POST', `/v1/accounts/${accountId}/two-step/step-up/${stepUpId}/verify`, { code });
      expect(approved.status).toBe(200);
    }
    return { stepUpId, challengeId, code };
  }

  const turnOff = (accountId: string, proof: { stepUpId: string; code?: string }) =>
    h.call('PUT', `/v1/accounts/${accountId}/two-step`, { enabled: false, ...proof });
  const toVoice = (accountId: string, stepUpId: string) =>
    h.call('PUT', `/v1/accounts/${accountId}/two-step`, { enabled: true, method: 'voice', stepUpId });
  const reissue = (accountId: string, stepUpId?: string) =>
    h.otpCall('POST', `/v1/accounts/${accountId}/backup-codes`, stepUpId ? { stepUpId } : {});
  const twoStepOf = async (accountId: string) => (await h.call('GET', `/v1/accounts/${accountId}/two-step`)).body as unknown;
  const SMS_ON = { enabled: true, method: 'sms', backupMethod: null };
  const refused = (res: HttpAnswer) => expect({ status: res.status, code: res.body?.code }).toEqual({ status: 403, code: 'step_up_required' });
  /** Whether a backup code still signs in (its set was not replaced). */
  const backupCodeWorks = (accountId: string, code: string) =>
    bus()
      .request(verifyFactorV1, { accountId, kind: 'backup_code', code, purpose: 'sign_in' }, { timeoutMs: 3_000 })
      .then(
        () => true,
        () => false,
      );

  it('spent at identity (two-step turned off), its challenge id is refused at otp: no new backup codes, no new authenticator', async () => {
    const a = await account({ authenticator: true });
    const { stepUpId, challengeId } = await stepUp(a.id);

    expect((await turnOff(a.id, { stepUpId })).status).toBe(200);

    refused(await reissue(a.id, challengeId));
    const enrolment = await h.otpCall('POST', `/v1/accounts/${a.id}/authenticators/totp`, {});
    expect(enrolment.status).toBe(201);
    const secret = h.keep(String(enrolment.body.secret));
    refused(await h.otpCall('POST', `/v1/accounts/${a.id}/authenticators/totp/${enrolment.body.id}/confirm`, { code: h.keep(totp(secret)), stepUpId: challengeId }));
    // Nothing changed at otp: the first set still works.
    expect(await backupCodeWorks(a.id, a.backupCodes[0]!)).toBe(true);
  });

  it('spent at identity with its code given in the change itself, its challenge id is refused at otp', async () => {
    const a = await account();
    const { stepUpId, challengeId, code } = await stepUp(a.id, false);

    expect((await turnOff(a.id, { stepUpId, code })).status).toBe(200);

    refused(await reissue(a.id, challengeId));
    expect(await backupCodeWorks(a.id, a.backupCodes[0]!)).toBe(true);
  });

  it('spent at otp (a new set of backup codes), its stepUpId is refused at identity: two-step stays on, the number stays', async () => {
    const a = await account();
    const { stepUpId, challengeId } = await stepUp(a.id);

    expect((await reissue(a.id, challengeId)).status).toBe(201);

    refused(await turnOff(a.id, { stepUpId }));
    refused(await h.call('DELETE', `/v1/accounts/${a.id}/phones/${a.phone.phoneId}`, { stepUpId }));
    expect(await twoStepOf(a.id)).toEqual(SMS_ON);
    expect((await h.call('GET', `/v1/accounts/${a.id}`)).body.phones).toHaveLength(1);
  });

  it('spent at otp (the authenticator replaced), its stepUpId is refused at identity', async () => {
    const a = await account({ authenticator: true });
    const { stepUpId, challengeId } = await stepUp(a.id);
    const enrolment = await h.otpCall('POST', `/v1/accounts/${a.id}/authenticators/totp`, {});
    const secret = h.keep(String(enrolment.body.secret));
    const confirm = (code: string) => h.otpCall('POST', `/v1/accounts/${a.id}/authenticators/totp/${enrolment.body.id}/confirm`, { code: h.keep(code), stepUpId: challengeId });

    expect((await confirm(totp(secret))).status).toBe(200);

    refused(await turnOff(a.id, { stepUpId }));
    expect(await twoStepOf(a.id)).toEqual({ ...SMS_ON, backupMethod: 'totp' });
  });

  it('concurrent spends at identity and at otp: exactly one change is made, whatever the order', async () => {
    for (let round = 0; round < 4; round++) {
      const a = await account();
      const { stepUpId, challengeId } = await stepUp(a.id);
      const answers = await Promise.all([
        turnOff(a.id, { stepUpId }),
        reissue(a.id, challengeId),
        toVoice(a.id, stepUpId),
        reissue(a.id, challengeId),
      ]);
      const statuses = answers.map((r) => r.status);
      expect(statuses.filter((s) => s === 200 || s === 201)).toHaveLength(1);
      for (const r of answers.filter((x) => x.status !== 200 && x.status !== 201)) refused(r);
      const winner = statuses.findIndex((s) => s === 200 || s === 201);
      if (winner === 0) expect(await twoStepOf(a.id)).toEqual({ enabled: false, method: null, backupMethod: null });
      else if (winner === 2) expect(await twoStepOf(a.id)).toEqual({ enabled: true, method: 'voice', backupMethod: null });
      else expect(await twoStepOf(a.id)).toEqual(SMS_ON);
      // The old set is gone exactly when otp made a new one.
      expect(await backupCodeWorks(a.id, a.backupCodes[0]!)).toBe(winner === 0 || winner === 2);
    }
  });

  it('a change at identity refused after it took the step-up gives it back at both: otp can then use it, once', async () => {
    const a = await account();
    const second = await h.verifiedPhone(a.id);
    const { stepUpId, challengeId } = await stepUp(a.id);

    // The first number changed to the second (already verified on the account): refused after the step-up was taken.
    const clash = await h.call('PUT', `/v1/accounts/${a.id}/phones/${a.phone.phoneId}`, { number: second.number, stepUpId });
    expect({ status: clash.status, code: clash.body?.code }).toEqual({ status: 409, code: 'phone_in_use' });

    expect((await reissue(a.id, challengeId)).status).toBe(201);
    refused(await turnOff(a.id, { stepUpId }));
  });

  it('a change at otp refused after it took the step-up gives it back: identity can then use it, once', async () => {
    const a = await account({ authenticator: true });
    const { stepUpId, challengeId } = await stepUp(a.id);
    const enrolment = await h.otpCall('POST', `/v1/accounts/${a.id}/authenticators/totp`, {});
    const secret = h.keep(String(enrolment.body.secret));
    const right = h.keep(totp(secret));
    const wrong = h.keep(String((Number(right) + 1) % 1_000_000).padStart(6, '0'));
    const confirm = (code: string) => h.otpCall('POST', `/v1/accounts/${a.id}/authenticators/totp/${enrolment.body.id}/confirm`, { code, stepUpId: challengeId });

    expect((await confirm(wrong)).status).toBe(422);

    expect((await turnOff(a.id, { stepUpId })).status).toBe(200);
    refused(await confirm(right));
  });

  it('a TOTP step-up at identity needs no otp challenge and is spent once there', async () => {
    const a = await account({ authenticator: true });
    const secret = a.secret!;
    const started = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up`, { channel: 'totp' });
    expect(started.status).toBe(201);
    expect(started.body.challenge).toBeNull();
    const stepUpId = String(started.body.stepUpId);
    // The authenticator's next step: its confirmation used this one.
    const code = h.keep(totp(secret, Math.floor(Date.now() / 30_000) + 1));
    expect((await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up/${stepUpId}/verify`, { code, factor: 'totp' })).status).toBe(200);
    expect((await turnOff(a.id, { stepUpId })).status).toBe(200);
    expect((await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'sms' })).status).toBe(200);
    refused(await turnOff(a.id, { stepUpId }));
  });

  it.each(['totp', 'backup_code'] as const)(
    'an SMS step-up approved with the %s it offers instead is spent at identity only (its otp challenge was never approved)',
    async (factor) => {
      const a = await account({ authenticator: true });
      const started = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up`, { channel: 'sms' });
      expect(started.status).toBe(201);
      expect(started.body.alternatives).toContain(factor);
      const stepUpId = String(started.body.stepUpId);
      const challengeId = String(started.body.challenge.id);
      const code = factor === 'totp' ? h.keep(totp(a.secret!, Math.floor(Date.now() / 30_000) + 1)) : a.backupCodes[0]!;
      const approved = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up/${stepUpId}/verify`, { code, factor });
      expect(approved.status).toBe(200);
      expect((await turnOff(a.id, { stepUpId })).status).toBe(200);
      expect(await twoStepOf(a.id)).toMatchObject({ enabled: false });
      // Spent: not a second change at identity, and its SMS challenge authorises nothing at otp.
      expect((await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'sms' })).status).toBe(200);
      refused(await turnOff(a.id, { stepUpId }));
      refused(await reissue(a.id, challengeId));
    },
  );

  it('never logs a full number, a code, a password or a token', () => {
    expect(h.secrets.size).toBeGreaterThan(5);
    expect(h.leaks()).toEqual([]);
  });

  // Last: it stops the otp process.
  it('otp unreachable when identity spends an SMS step-up: refused (503), not spent; with otp back it is spent once', async () => {
    const a = await account();
    const { stepUpId, challengeId } = await stepUp(a.id);

    await h.killOtp();
    const down = await turnOff(a.id, { stepUpId });
    expect({ status: down.status, code: down.body?.code }).toEqual({ status: 503, code: 'service_unavailable' });
    expect(await twoStepOf(a.id)).toEqual(SMS_ON);

    await h.startOtpAgain();
    expect((await turnOff(a.id, { stepUpId })).status).toBe(200);
    refused(await reissue(a.id, challengeId));
    expect(await bus().request(getFactorsV1, { accountId: a.id }, { timeoutMs: 3_000 })).toEqual({ totp: false, backupCodes: 10 });
  });
});
