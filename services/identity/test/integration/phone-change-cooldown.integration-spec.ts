import { Harness, type HttpAnswer, sleep, type Tapped } from './support/harness';

jest.setTimeout(60_000);

/** otp's first resend cooldown in this file (short, so the doubling can be watched in seconds). */
const COOLDOWN_MS = 400;

/**
 * A change of a number (PUT) sends a code like a resend does, so it is bounded like
 * one (C9): inside the previous send's cooldown it is answered 429 resend_cooldown
 * with an honest Retry-After and sends nothing, whether the number is the same or
 * another; the growing cooldown and the verification's at most 5 sends go on across
 * the challenges its PUTs start (alternating numbers resets neither); of concurrent
 * PUTs one sends a code. The same number PUT again is a resend of its challenge.
 * Over HTTP against identity, with real PostgreSQL, Redis, RabbitMQ and the otp
 * service as a process.
 */
describe('identity: changing a number is bounded like a resend (C9)', () => {
  const h = new Harness();

  beforeAll(async () => {
    // otp's per-number limit above the verification's own 5 codes, so that identity's bound is the one seen.
    await h.start({ otpEnv: { OTP_RESEND_COOLDOWN: `${COOLDOWN_MS}ms`, OTP_LIMIT_DESTINATION: '100/15m' } });
  }, 120_000);

  afterAll(() => h.close(), 60_000);

  const phonesUrl = (accountId: string) => `/v1/accounts/${accountId}/phones`;

  /** Codes sent since `since` (to `to` when given): one per message that carries a code. */
  function codesSent(since: number, to?: string): Tapped[] {
    return h.tap
      .of('notification.requested.v1')
      .filter((t) => t.at >= since && typeof (t.data['variables'] as { code?: unknown } | undefined)?.code === 'string' && (!to || t.data['to'] === to));
  }

  const codeOf = (t: Tapped) => h.keep(String((t.data['variables'] as { code: unknown }).code));

  /** Waits until a previous answer's resendAvailableAt (plus a little). */
  const untilResendable = (answer: HttpAnswer) =>
    sleep(Math.max(0, Date.parse(answer.body.verification.resendAvailableAt as string) - Date.now()) + 60);

  /** An account with a pending number whose first code went out, its cooldown passed. */
  async function pendingNumber() {
    const a = await h.account();
    const x = h.phone();
    const added = await h.call('POST', phonesUrl(a.id), { number: x });
    expect(added.status).toBe(202);
    await h.codeFor(added.body.verification.challengeId);
    await untilResendable(added);
    return { a, x, phoneId: String(added.body.phoneId), added, url: `${phonesUrl(a.id)}/${added.body.phoneId}` };
  }

  /** 429 resend_cooldown whose Retry-After is the honest wait: at least 1 s, at most the wait left until `until`, rounded up. */
  function expectCooldown(answer: HttpAnswer, until: number, askedAt: number) {
    expect({ status: answer.status, code: answer.body?.code }).toEqual({ status: 429, code: 'resend_cooldown' });
    const retryAfter = Number(answer.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(Math.max(1, Math.ceil((until - askedAt) / 1000)));
  }

  /** Lets whatever a second send would have been reach the bus, then answers the codes sent since. */
  async function settledCodes(since: number, to?: string): Promise<Tapped[]> {
    await sleep(1_000);
    return codesSent(since, to);
  }

  async function verify(url: string, code: string) {
    return h.call('POST', `${url}/verify`, { code });
  }

  it('two PUTs of a new number 100 ms apart: one code goes out, the second is 429 resend_cooldown with Retry-After', async () => {
    const { url } = await pendingNumber();
    const y = h.phone();
    const since = Date.now();
    const first = await h.call('PUT', url, { number: y, channel: 'voice' });
    expect(first.status).toBe(202);
    await sleep(100);
    const askedAt = Date.now();
    const second = await h.call('PUT', url, { number: y, channel: 'voice' });
    expectCooldown(second, Date.parse(first.body.verification.resendAvailableAt), askedAt);
    const sent = await settledCodes(since);
    expect(sent.map((t) => ({ to: t.data['to'], channel: t.data['channel'] }))).toEqual([{ to: y, channel: 'voice' }]);
    expect((await verify(url, codeOf(sent[0]!))).status).toBe(200);
  });

  it('three PUTs at once: one code goes out, the others are 429 resend_cooldown', async () => {
    const { url } = await pendingNumber();
    const y = h.phone();
    const since = Date.now();
    const answers = await Promise.all([1, 2, 3].map(() => h.call('PUT', url, { number: y })));
    expect(answers.map((r) => r.status).sort()).toEqual([202, 429, 429]);
    for (const r of answers) if (r.status === 429) expect(r.body.code).toBe('resend_cooldown');
    const sent = await settledCodes(since);
    expect(sent.map((t) => t.data['to'])).toEqual([y]);
    const accepted = answers.find((r) => r.status === 202)!;
    expect((sent[0]!.data['origin'] as { ref?: string }).ref).toBe(accepted.body.verification.challengeId);
    expect((await verify(url, codeOf(sent[0]!))).status).toBe(200);
  });

  it('three PUTs of three different numbers at once: one code goes out', async () => {
    const { url } = await pendingNumber();
    const numbers = [h.phone(), h.phone(), h.phone()];
    const since = Date.now();
    const answers = await Promise.all(numbers.map((number) => h.call('PUT', url, { number })));
    expect(answers.map((r) => r.status).sort()).toEqual([202, 429, 429]);
    const sent = await settledCodes(since);
    expect(sent).toHaveLength(1);
    const read = await h.call('GET', url.replace(/\/phones\/.*$/, ''));
    expect(read.body.phones).toEqual([expect.objectContaining({ number: sent[0]!.data['to'], status: 'pending' })]);
  });

  it('a PUT of another number inside the cooldown is 429 and sends nothing; after the Retry-After it works and its code verifies', async () => {
    const { url, phoneId } = await pendingNumber();
    const [y, z] = [h.phone(), h.phone()];
    const first = await h.call('PUT', url, { number: y });
    expect(first.status).toBe(202);
    const yCode = await h.codeFor(first.body.verification.challengeId);
    const since = Date.now();
    const early = await h.call('PUT', url, { number: z });
    expectCooldown(early, Date.parse(first.body.verification.resendAvailableAt), since);
    expect(await settledCodes(since, z)).toEqual([]);
    // Still y, pending: the refused PUT changed nothing.
    const read = await h.call('GET', url.replace(/\/phones\/.*$/, ''));
    expect(read.body.phones).toEqual([expect.objectContaining({ phoneId, number: y, status: 'pending' })]);

    await untilResendable(first);
    const later = await h.call('PUT', url, { number: z });
    expect(later.status).toBe(202);
    expect(later.body).toMatchObject({ phoneId, status: 'pending' });
    const zCode = await h.codeFor(later.body.verification.challengeId);
    if (yCode !== zCode) expect((await verify(url, yCode)).status).toBeGreaterThanOrEqual(400);
    const verified = await verify(url, zCode);
    expect({ status: verified.status, body: verified.body }).toMatchObject({ status: 200, body: { phoneId, status: 'verified' } });
  });

  it('the same number PUT again is a resend of its challenge: 429 inside the cooldown, then the same challenge, whose new code verifies', async () => {
    const { url, x, added } = await pendingNumber();
    const since = Date.now();
    const again = await h.call('PUT', url, { number: x });
    expect(again.status).toBe(202);
    expect(again.body.verification.challengeId).toBe(added.body.verification.challengeId);
    const askedAt = Date.now();
    const early = await h.call('PUT', url, { number: x });
    expectCooldown(early, Date.parse(again.body.verification.resendAvailableAt), askedAt);
    const sent = await settledCodes(since);
    expect(sent.map((t) => t.data['to'])).toEqual([x]);
    expect((await verify(url, codeOf(sent[0]!))).status).toBe(200);
  });

  it('alternating two numbers keeps the growing cooldown and the 5 sends of the verification', async () => {
    const { url, x } = await pendingNumber();
    const y = h.phone();
    // Send 1 was the add's; each PUT sends the next, alternating y and x.
    let previous: HttpAnswer | undefined;
    for (const [i, number] of [y, x, y, x].entries()) {
      if (previous) await untilResendable(previous);
      const sentAt = Date.now();
      const answer = await h.call('PUT', url, { number });
      expect({ status: answer.status, code: answer.body?.code }).toEqual({ status: 202, code: undefined });
      // After send n the cooldown is COOLDOWN_MS · 2^(n−1): n = i + 2.
      const wait = Date.parse(answer.body.verification.resendAvailableAt) - sentAt;
      expect(wait).toBeGreaterThanOrEqual(COOLDOWN_MS * 2 ** (i + 1) - 50);
      previous = answer;
    }
    // Five codes sent for this verification: a sixth is refused until its challenge ends (not only until the cooldown).
    const since = Date.now();
    const sixth = await h.call('PUT', url, { number: y });
    expect({ status: sixth.status, code: sixth.body?.code }).toEqual({ status: 429, code: 'rate_limited' });
    expect(Number(sixth.headers.get('retry-after'))).toBeGreaterThan(60);
    const resent = await h.call('POST', `${url}/resend`, {});
    expect({ status: resent.status, code: resent.body?.code }).toEqual({ status: 429, code: 'rate_limited' });
    expect(await settledCodes(since)).toEqual([]);
    // The last code still verifies x.
    const last = codesSent(0, x).at(-1)!;
    expect((await verify(url, codeOf(last))).status).toBe(200);
  });

  it('a resend after PUTs keeps the growing cooldown: 429 until the doubled wait, then one code on the same challenge', async () => {
    const { url, x } = await pendingNumber();
    const y = h.phone();
    const toY = await h.call('PUT', url, { number: y });
    expect(toY.status).toBe(202);
    await untilResendable(toY);
    const sentAt = Date.now();
    const backToX = await h.call('PUT', url, { number: x });
    expect(backToX.status).toBe(202);
    // Send 3 of the verification: the next waits 4 · COOLDOWN_MS, though x's new challenge sent once.
    const until = Date.parse(backToX.body.verification.resendAvailableAt);
    expect(until - sentAt).toBeGreaterThanOrEqual(4 * COOLDOWN_MS - 50);
    await sleep(Math.max(0, sentAt + COOLDOWN_MS + 100 - Date.now()));
    const askedAt = Date.now();
    expectCooldown(await h.call('POST', `${url}/resend`, {}), until, askedAt);
    await untilResendable(backToX);
    const since = Date.now();
    const resent = await h.call('POST', `${url}/resend`, {});
    expect(resent.status).toBe(202);
    expect(resent.body.verification.challengeId).toBe(backToX.body.verification.challengeId);
    const sent = await settledCodes(since);
    expect(sent.map((t) => t.data['to'])).toEqual([x]);
    expect((await verify(url, codeOf(sent[0]!))).status).toBe(200);
  });

  it('changing a verified number twice: the second PUT inside the cooldown is 429; the old number stays until the new one verifies', async () => {
    const a = await h.account();
    const old = await h.verifiedPhone(a.id);
    const [y, z] = [h.phone(), h.phone()];
    const url = `${phonesUrl(a.id)}/${old.phoneId}`;
    // A verified number's change needs a step-up (S8); one a refused change took is given back.
    const [stepUp, again] = [await h.stepUp(a.id), await h.stepUp(a.id)];
    const since = Date.now();
    const first = await h.call('PUT', url, { number: y, stepUpId: stepUp });
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ status: 'pending', replacesPhoneId: old.phoneId });
    const askedAt = Date.now();
    const second = await h.call('PUT', url, { number: z, stepUpId: again });
    expectCooldown(second, Date.parse(first.body.verification.resendAvailableAt), askedAt);
    expect((await settledCodes(since)).map((t) => t.data['to'])).toEqual([y]);

    // After the cooldown the change goes on with z (the same pending replacement), and the old number is still primary.
    await untilResendable(first);
    const third = await h.call('PUT', url, { number: z, stepUpId: again });
    expect(third.status).toBe(202);
    expect(third.body).toMatchObject({ status: 'pending', replacesPhoneId: old.phoneId });
    const zCode = await h.codeFor(third.body.verification.challengeId);
    const during = await h.call('GET', `/v1/accounts/${a.id}`);
    expect(during.body.phones).toEqual([
      expect.objectContaining({ phoneId: old.phoneId, number: old.number, status: 'verified', primary: true }),
      expect.objectContaining({ phoneId: third.body.phoneId, number: z, status: 'pending', replacesPhoneId: old.phoneId }),
    ]);
    const verified = await verify(`${phonesUrl(a.id)}/${third.body.phoneId}`, zCode);
    expect({ status: verified.status, body: verified.body }).toMatchObject({ status: 200, body: { primary: true, replacedPhoneId: old.phoneId } });
  });

  describe('a pending number removed and added again', () => {
    /** 429 rate_limited of identity's 5-code bound, told to wait until the latest challenge ends (minutes, not the cooldown). */
    function expectFiveCodes(answer: HttpAnswer) {
      expect({ status: answer.status, code: answer.body?.code, detail: answer.body?.detail }).toEqual({
        status: 429,
        code: 'rate_limited',
        detail: 'At most 5 codes are sent to verify one number.',
      });
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(60);
    }

    /** Removes a pending number: 204. */
    async function remove(accountId: string, phoneId: string) {
      expect((await h.call('DELETE', `${phonesUrl(accountId)}/${phoneId}`)).status).toBe(204);
    }

    it('added again inside the cooldown: 429 resend_cooldown with an honest Retry-After, nothing sent, nothing recorded; another number is not held back', async () => {
      const a = await h.account();
      const x = h.phone();
      const added = await h.call('POST', phonesUrl(a.id), { number: x });
      expect(added.status).toBe(202);
      await h.codeFor(added.body.verification.challengeId);
      await remove(a.id, added.body.phoneId);
      const since = Date.now();
      const again = await h.call('POST', phonesUrl(a.id), { number: x });
      expectCooldown(again, Date.parse(added.body.verification.resendAvailableAt), since);
      expect(await settledCodes(since, x)).toEqual([]);
      expect((await h.call('GET', `/v1/accounts/${a.id}`)).body.phones).toEqual([]);
      // Another number has its own bound: sent at once.
      const other = await h.call('POST', phonesUrl(a.id), { number: h.phone() });
      expect(other.status).toBe(202);
    });

    it('two adds at once of a number removed, after its cooldown: one code goes out, the other is 429 resend_cooldown', async () => {
      const a = await h.account();
      const x = h.phone();
      const added = await h.call('POST', phonesUrl(a.id), { number: x });
      expect(added.status).toBe(202);
      await remove(a.id, added.body.phoneId);
      await untilResendable(added);
      const since = Date.now();
      const answers = await Promise.all([1, 2].map(() => h.call('POST', phonesUrl(a.id), { number: x })));
      expect(answers.map((r) => ({ status: r.status, code: r.body?.code })).sort((p, q) => p.status - q.status)).toEqual([
        { status: 202, code: undefined },
        { status: 429, code: 'resend_cooldown' },
      ]);
      const sent = await settledCodes(since, x);
      expect(sent).toHaveLength(1);
      const accepted = answers.find((r) => r.status === 202)!;
      expect((await verify(`${phonesUrl(a.id)}/${accepted.body.phoneId}`, codeOf(sent[0]!))).status).toBe(200);
    });

    it('the remove and add loop keeps the doubling cooldown and the 5 codes of the number', async () => {
      const a = await h.account();
      const x = h.phone();
      let previous = await h.call('POST', phonesUrl(a.id), { number: x });
      expect(previous.status).toBe(202);
      // Send 1 was the first add's; each add after a removal sends the next.
      for (let n = 2; n <= 5; n++) {
        await untilResendable(previous);
        await remove(a.id, previous.body.phoneId);
        const sentAt = Date.now();
        const answer = await h.call('POST', phonesUrl(a.id), { number: x });
        expect({ n, status: answer.status, code: answer.body?.code }).toEqual({ n, status: 202, code: undefined });
        // After send n the cooldown is COOLDOWN_MS · 2^(n−1).
        expect(Date.parse(answer.body.verification.resendAvailableAt) - sentAt).toBeGreaterThanOrEqual(COOLDOWN_MS * 2 ** (n - 1) - 50);
        previous = answer;
      }
      await untilResendable(previous);
      const url = `${phonesUrl(a.id)}/${previous.body.phoneId}`;
      const since = Date.now();
      expectFiveCodes(await h.call('POST', `${url}/resend`, {}));
      await remove(a.id, previous.body.phoneId);
      expectFiveCodes(await h.call('POST', phonesUrl(a.id), { number: x }));
      expect(await settledCodes(since)).toEqual([]);
      // The refused add recorded nothing.
      expect((await h.call('GET', `/v1/accounts/${a.id}`)).body.phones).toEqual([]);
    });

    it('a change to a number removed and made again inside the cooldown (PUT, or an add of that number): 429 resend_cooldown, nothing sent; later the doubled cooldown', async () => {
      const a = await h.account();
      const old = await h.verifiedPhone(a.id);
      const x = h.phone();
      const url = `${phonesUrl(a.id)}/${old.phoneId}`;
      // A verified number's change needs a step-up (S8); one a refused change took is given back.
      const [stepUp, again] = [await h.stepUp(a.id), await h.stepUp(a.id)];
      const changed = await h.call('PUT', url, { number: x, stepUpId: stepUp });
      expect(changed.status).toBe(202);
      await h.codeFor(changed.body.verification.challengeId);
      await remove(a.id, changed.body.phoneId);
      const since = Date.now();
      const until = Date.parse(changed.body.verification.resendAvailableAt);
      expectCooldown(await h.call('PUT', url, { number: x, stepUpId: again }), until, since);
      expectCooldown(await h.call('POST', phonesUrl(a.id), { number: x }), until, since);
      expect(await settledCodes(since, x)).toEqual([]);
      expect((await h.call('GET', `/v1/accounts/${a.id}`)).body.phones).toEqual([expect.objectContaining({ phoneId: old.phoneId, status: 'verified' })]);

      await untilResendable(changed);
      const sentAt = Date.now();
      const added = await h.call('POST', phonesUrl(a.id), { number: x });
      expect(added.status).toBe(202);
      expect(Date.parse(added.body.verification.resendAvailableAt) - sentAt).toBeGreaterThanOrEqual(2 * COOLDOWN_MS - 50);
      const code = await h.codeFor(added.body.verification.challengeId);
      expect((await verify(`${phonesUrl(a.id)}/${added.body.phoneId}`, code)).status).toBe(200);
    });

    it('a number corrected away and the row removed: adding the first number again inside its cooldown is 429', async () => {
      const { a, x, url, phoneId } = await pendingNumber();
      const corrected = await h.call('PUT', url, { number: h.phone() });
      expect(corrected.status).toBe(202);
      await remove(a.id, phoneId);
      const since = Date.now();
      expectCooldown(await h.call('POST', phonesUrl(a.id), { number: x }), Date.parse(corrected.body.verification.resendAvailableAt), since);
      expect(await settledCodes(since, x)).toEqual([]);
    });
  });

  it('a sign-in whose number changed: the resend that starts a new challenge and the resends after it keep doubling the sign-in’s cooldown', async () => {
    const { started, next } = await h.signInThenNumberChange({ id: 'dev-cooldown-1', name: 'Test phone', ip: '10.9.2.1' });
    const resendUrl = `/v1/sessions/${started.body.loginId}/resend`;
    const untilSignInResendable = (answer: HttpAnswer) =>
      sleep(Math.max(0, Date.parse(answer.body.challenge.resendAvailableAt as string) - Date.now()) + 60);

    // Send 2 of the sign-in: a new challenge to the new number, then 2 · COOLDOWN_MS (not otp's first cooldown again).
    await untilSignInResendable(started);
    let sentAt = Date.now();
    const restarted = await h.call('POST', resendUrl, {});
    expect(restarted.status).toBe(202);
    expect(restarted.body.challenge.id).not.toBe(started.body.challenge.id);
    expect(Date.parse(restarted.body.challenge.resendAvailableAt) - sentAt).toBeGreaterThanOrEqual(2 * COOLDOWN_MS - 50);

    // Send 3: the new challenge again, then 4 · COOLDOWN_MS, though otp's own after its 2 sends is 2 · COOLDOWN_MS.
    await untilSignInResendable(restarted);
    sentAt = Date.now();
    const third = await h.call('POST', resendUrl, {});
    expect(third.status).toBe(202);
    expect(third.body.challenge.id).toBe(restarted.body.challenge.id);
    const until = Date.parse(third.body.challenge.resendAvailableAt);
    expect(until - sentAt).toBeGreaterThanOrEqual(4 * COOLDOWN_MS - 50);
    await sleep(Math.max(0, sentAt + 2 * COOLDOWN_MS + 100 - Date.now()));
    const since = Date.now();
    expectCooldown(await h.call('POST', resendUrl, {}), until, since);
    expect(await settledCodes(since)).toEqual([]);
    const last = codesSent(0, next).filter((t) => t.data['template'] === 'otp.sign_in').at(-1)!;
    expect((await h.call('POST', `/v1/sessions/${started.body.loginId}/verify`, { code: codeOf(last) })).status).toBe(201);
  });

  it('never logs a full number, a code, a password or a token', () => {
    expect(h.secrets.size).toBeGreaterThan(10);
    expect(h.leaks()).toEqual([]);
  });
});
