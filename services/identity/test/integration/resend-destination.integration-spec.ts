import { Harness, type HttpAnswer, sleep } from './support/harness';

jest.setTimeout(60_000);

type Channel = 'sms' | 'voice' | 'email';

/**
 * A resend of a pending number's code (also switching SMS and voice) goes to the
 * pending number itself, the challenge's own destination, after an add, after a
 * change of a verified number and after a correction of a pending one; the
 * resend's code verifies that number, and a replaced number keeps working until
 * then. A sign-in's resend goes to the account's primary number as it is now:
 * never refused (422) because the number changed since the code was first sent,
 * never to a replaced number. Over HTTP against identity, with real PostgreSQL,
 * Redis, RabbitMQ and the otp service as a process.
 */
describe('identity: a resend goes to the number the code is for', () => {
  const h = new Harness();

  beforeAll(async () => {
    // A steady 1 s cooldown (no doubling), so a test can resend several times quickly.
    await h.start({ otpEnv: { OTP_RESEND_COOLDOWN_MAX: '1s' } });
  }, 120_000);

  afterAll(() => h.close(), 60_000);

  const phonesUrl = (accountId: string) => `/v1/accounts/${accountId}/phones`;

  /**
   * After the previous answer's cooldown, POSTs a resend (optionally on another channel),
   * expects 202 and the new code sent to `to` on that channel; returns the answer and the code.
   */
  async function resend(
    url: string,
    previous: { resendAvailableAt: string },
    to: string,
    channel: Channel | undefined,
    challengeOf: (answer: HttpAnswer) => { id: string; channel: string },
  ): Promise<{ answer: HttpAnswer; code: string }> {
    await sleep(Math.max(0, Date.parse(previous.resendAvailableAt) - Date.now()) + 50);
    const since = Date.now();
    const answer = await h.call('POST', url, channel ? { channel } : {});
    expect({ status: answer.status, body: answer.body }).toMatchObject({ status: 202 });
    const challenge = challengeOf(answer);
    if (channel) expect(challenge.channel).toBe(channel);
    const message = await h.tap.waitFor(
      (t) =>
        t.envelope.type === 'notification.requested.v1' &&
        (t.data['origin'] as { ref?: string } | undefined)?.ref === challenge.id &&
        typeof (t.data['variables'] as { code?: unknown } | undefined)?.code === 'string',
      since,
    );
    expect({ to: message.data['to'], channel: message.data['channel'] }).toEqual({
      to,
      channel: challenge.channel,
    });
    return { answer, code: h.keep(String((message.data['variables'] as { code: unknown }).code)) };
  }

  /** Resends a pending number's code: the same challenge, to `number`. */
  async function resendTo(accountId: string, pending: HttpAnswer, number: string, channel?: 'sms' | 'voice') {
    const url = `${phonesUrl(accountId)}/${pending.body.phoneId}/resend`;
    const sent = await resend(url, pending.body.verification, number, channel, (a) => ({
      id: a.body.verification.challengeId,
      channel: a.body.verification.channel,
    }));
    expect(sent.answer.body).toMatchObject({ phoneId: pending.body.phoneId, status: 'pending' });
    expect(sent.answer.body.verification.challengeId).toBe(pending.body.verification.challengeId);
    return sent;
  }

  /** Verifies a number with a code: 200 with `expected`. */
  async function verify(accountId: string, phoneId: string, code: string, expected: object) {
    const verified = await h.call('POST', `${phonesUrl(accountId)}/${phoneId}/verify`, { code });
    expect({ status: verified.status, body: verified.body }).toMatchObject({ status: 200, body: { phoneId, status: 'verified', ...expected } });
  }

  /** The account's numbers are exactly these (in the order GET answers them). */
  async function expectPhones(accountId: string, phones: object[]) {
    const read = await h.call('GET', `/v1/accounts/${accountId}`);
    expect(read.body.phones).toEqual(phones.map((p): unknown => expect.objectContaining(p)));
  }

  /** Changes a number (optionally by voice): 202, a pending replacement whose first code went out. */
  async function change(accountId: string, phoneId: string, number: string, channel?: 'voice') {
    // A verified number's change needs a step-up (S8); a pending number's none.
    const phones = (await h.call('GET', `/v1/accounts/${accountId}`)).body.phones as { phoneId: string; status: string }[];
    const stepUp = phones.some((p) => p.phoneId === phoneId && p.status === 'verified') ? { stepUpId: await h.stepUp(accountId) } : {};
    const changed = await h.call('PUT', `${phonesUrl(accountId)}/${phoneId}`, { number, ...(channel ? { channel } : {}), ...stepUp });
    expect(changed.status).toBe(202);
    const firstCode = await h.codeFor(changed.body.verification.challengeId);
    return { changed, firstCode };
  }

  it('after adding a number: resends by SMS, switches to voice and back, each to the number; the last code verifies it', async () => {
    const a = await h.account();
    const number = h.phone();
    const added = await h.call('POST', phonesUrl(a.id), { number });
    expect(added.status).toBe(202);
    await h.codeFor(added.body.verification.challengeId);
    const again = await resendTo(a.id, added, number);
    const voice = await resendTo(a.id, again.answer, number, 'voice');
    const sms = await resendTo(a.id, voice.answer, number, 'sms');
    await verify(a.id, added.body.phoneId, sms.code, { primary: true });
  });

  it('after changing the primary number: the resend and the switch to voice go to the new number, whose resent code replaces the old one, which works until then', async () => {
    const a = await h.account();
    const old = await h.verifiedPhone(a.id);
    const next = h.phone();
    const { changed, firstCode } = await change(a.id, old.phoneId, next);
    expect(changed.body).toMatchObject({ status: 'pending', replacesPhoneId: old.phoneId });

    const sms = await resendTo(a.id, changed, next);
    const voice = await resendTo(a.id, sms.answer, next, 'voice');
    for (const r of [sms, voice]) expect(r.answer.body.replacesPhoneId).toBe(old.phoneId);

    // Until the new number is verified, the old one is the account's verified primary.
    await expectPhones(a.id, [
      { phoneId: old.phoneId, number: old.number, status: 'verified', primary: true },
      { phoneId: changed.body.phoneId, number: next, status: 'pending', replacesPhoneId: old.phoneId },
    ]);
    // Only the newest code verifies.
    if (firstCode !== voice.code) {
      const stale = await h.call('POST', `${phonesUrl(a.id)}/${changed.body.phoneId}/verify`, { code: firstCode });
      expect(stale.status).toBe(422);
    }
    await verify(a.id, changed.body.phoneId, voice.code, { primary: true, replacedPhoneId: old.phoneId });
    await expectPhones(a.id, [{ phoneId: changed.body.phoneId, number: next, status: 'verified', primary: true }]);
  });

  it('after changing a number by voice: the switch to SMS and back to voice go to the new number; the resent code verifies it', async () => {
    const a = await h.account();
    const old = await h.verifiedPhone(a.id);
    const next = h.phone();
    const { changed } = await change(a.id, old.phoneId, next, 'voice');
    expect(changed.body.verification.channel).toBe('voice');
    const sms = await resendTo(a.id, changed, next, 'sms');
    const voice = await resendTo(a.id, sms.answer, next, 'voice');
    await verify(a.id, changed.body.phoneId, voice.code, { primary: true, replacedPhoneId: old.phoneId });
  });

  it('after correcting a pending number: the resend and the switch to voice go to the corrected number, and its code verifies it', async () => {
    const a = await h.account();
    const added = await h.call('POST', phonesUrl(a.id), { number: h.phone() });
    expect(added.status).toBe(202);
    await h.codeFor(added.body.verification.challengeId);
    // The correction sends a code, so it waits out the add's cooldown like a resend (C9).
    await sleep(Math.max(0, Date.parse(added.body.verification.resendAvailableAt) - Date.now()) + 50);
    const corrected = h.phone();
    const { changed } = await change(a.id, added.body.phoneId, corrected);
    expect(changed.body.phoneId).toBe(added.body.phoneId);
    const sms = await resendTo(a.id, changed, corrected);
    const voice = await resendTo(a.id, sms.answer, corrected, 'voice');
    await verify(a.id, added.body.phoneId, voice.code, { primary: true });
    await expectPhones(a.id, [{ phoneId: added.body.phoneId, number: corrected, status: 'verified', primary: true }]);
  });

  it('changing the second number while the first stays primary: the resend goes to the new number and the primary is kept', async () => {
    const a = await h.account();
    const primary = await h.verifiedPhone(a.id);
    const second = await h.verifiedPhone(a.id);
    expect(second.primary).toBe(false);
    const next = h.phone();
    const { changed } = await change(a.id, second.phoneId, next);
    const voice = await resendTo(a.id, changed, next, 'voice');
    await verify(a.id, changed.body.phoneId, voice.code, { primary: false, replacedPhoneId: second.phoneId });
    await expectPhones(a.id, [
      { phoneId: primary.phoneId, number: primary.number, primary: true },
      { phoneId: changed.body.phoneId, number: next, status: 'verified', primary: false },
    ]);
  });

  describe('sign-in', () => {
    let seq = 1;

    /** An account with a verified number, two-step by SMS and the e-mail as backup, and a challenged sign-in. */
    async function challengedSignIn() {
      const a = await h.account();
      const phone = await h.verifiedPhone(a.id);
      await h.twoStep(a.id, { method: 'sms', backupMethod: 'email' });
      const device = { id: `dev-${seq}`, name: 'Test phone', ip: `10.8.0.${seq++}` };
      const since = Date.now();
      const started = await h.call('POST', '/v1/sessions', { email: a.email, password: a.password, device });
      expect(started.status).toBe(202);
      const firstCode = await h.codeTo(phone.number, since, 'otp.sign_in');
      return { ...a, phone, loginId: String(started.body.loginId), started, firstCode };
    }

    /** Changes the number to a new one and verifies it: the new number is primary, the old one gone. */
    async function changeNumber(accountId: string, phoneId: string): Promise<string> {
      const next = h.phone();
      const { changed, firstCode } = await change(accountId, phoneId, next);
      await verify(accountId, changed.body.phoneId, firstCode, { primary: true });
      return next;
    }

    /** Resends the sign-in code (optionally on another channel), to `to`. */
    const resendSignIn = (loginId: string, previous: HttpAnswer, to: string, channel?: Channel) =>
      resend(`/v1/sessions/${loginId}/resend`, previous.body.challenge, to, channel, (a) => a.body.challenge as { id: string; channel: string });

    const signInWith = async (loginId: string, code: string) =>
      (await h.call('POST', `/v1/sessions/${loginId}/verify`, { code })).status;

    it('the primary number unchanged: SMS, e-mail and back to SMS and voice resend the same challenge to the same number', async () => {
      const a = await challengedSignIn();
      const email = await resendSignIn(a.loginId, a.started, a.email, 'email');
      const sms = await resendSignIn(a.loginId, email.answer, a.phone.number, 'sms');
      const voice = await resendSignIn(a.loginId, sms.answer, a.phone.number, 'voice');
      for (const r of [email, sms, voice]) expect(r.answer.body.challenge.id).toBe(a.started.body.challenge.id);
      expect(await signInWith(a.loginId, voice.code)).toBe(201);
    });

    it('a change still pending: the resend goes to the old number, which works until the new one is verified', async () => {
      const a = await challengedSignIn();
      expect((await h.call('PUT', `${phonesUrl(a.id)}/${a.phone.phoneId}`, { number: h.phone(), stepUpId: await h.stepUp(a.id) })).status).toBe(202);
      const email = await resendSignIn(a.loginId, a.started, a.email, 'email');
      const sms = await resendSignIn(a.loginId, email.answer, a.phone.number, 'sms');
      expect(sms.answer.body.challenge.id).toBe(a.started.body.challenge.id);
      expect(await signInWith(a.loginId, sms.code)).toBe(201);
    });

    it('the primary number changed meanwhile: switching back from e-mail to SMS sends to the new number (not 422), and its code signs in', async () => {
      const a = await challengedSignIn();
      const email = await resendSignIn(a.loginId, a.started, a.email, 'email');
      const next = await changeNumber(a.id, a.phone.phoneId);
      const sms = await resendSignIn(a.loginId, email.answer, next, 'sms');
      const voice = await resendSignIn(a.loginId, sms.answer, next, 'voice');
      expect(voice.answer.body.challenge.id).toBe(sms.answer.body.challenge.id);
      expect(await signInWith(a.loginId, voice.code)).toBe(201);
    });

    it('the primary number changed meanwhile: a plain resend and a switch to voice go to the new number, not to the replaced one', async () => {
      const a = await challengedSignIn();
      const next = await changeNumber(a.id, a.phone.phoneId);
      const sms = await resendSignIn(a.loginId, a.started, next);
      expect(sms.answer.body.challenge.channel).toBe('sms');
      const voice = await resendSignIn(a.loginId, sms.answer, next, 'voice');
      // The code sent to the replaced number does not sign in; the new number's does.
      if (a.firstCode !== voice.code) expect(await signInWith(a.loginId, a.firstCode)).toBe(422);
      expect(await signInWith(a.loginId, voice.code)).toBe(201);
    });

    it('another verified number made primary meanwhile: the resend goes to it', async () => {
      const a = await challengedSignIn();
      const other = await h.verifiedPhone(a.id);
      expect((await h.call('POST', `${phonesUrl(a.id)}/${other.phoneId}/primary`, { stepUpId: await h.stepUp(a.id) })).status).toBe(200);
      const voice = await resendSignIn(a.loginId, a.started, other.number, 'voice');
      expect(await signInWith(a.loginId, voice.code)).toBe(201);
    });
  });

  it('never logs a full number, a code, a password or a token', () => {
    expect(h.leaks()).toEqual([]);
  });
});
