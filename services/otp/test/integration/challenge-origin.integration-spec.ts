import { randomUUID } from 'node:crypto';
import {
  checkChallengeV1,
  getChallengeV1,
  resendChallengeV1,
  startChallengeV1,
} from '@phonegate/contracts';
import { remoteError, SF, startedOtp, usNumber, wrongCode } from '../support/otp-harness';

const OTHER_SHOP = { authorization: 'Bearer sf-other-key' };

/** The problem answer without what differs from one request to the next. */
function problem(res: { statusCode: number; json: () => Record<string, unknown> }) {
  const { instance: _instance, ...body } = res.json();
  return { status: res.statusCode, body };
}

/**
 * A challenge answers only the surface that started it. identity hands its challenge ids to its
 * clients (phone verification, sign-in), so if the public API could act on them, a caller could
 * move a sign-in or phone-verification code to a number of its choice with a resend, and that
 * number's code would then verify the original number in identity or pass two-step.
 */
describe('otp challenges reach only the surface (and API key) that started them', () => {
  const h = startedOtp({
    API_KEYS:
      'sf-test-key:storefront,sf-other-key:storefront,ops-test-key:ops,' +
      'shop@shop-old-key:storefront,shop@shop-new-key:storefront',
  });
  const bus = () => h.identity.events;
  /** identity's sign-in challenge, over the bus. */
  const signIn = (to: string, ref: string) =>
    bus().request(startChallengeV1, {
      purpose: 'sign_in',
      channel: 'sms',
      to,
      accountId: randomUUID(),
      ref,
    });
  const signInCheck = (challengeId: string, code: string, ref: string) =>
    bus().request(checkChallengeV1, { challengeId, code, purpose: 'sign_in', ref });

  it('a challenge started over the bus is 404 to every HTTP route, like an unknown id, and still verifies over the bus', async () => {
    const to = usNumber();
    const loginId = randomUUID();
    const started = await signIn(to, loginId);
    const code = await h.code(started.id);
    h.clock.advance(h.config.codes.cooldownMs);

    const unknown = randomUUID();
    const routes = (id: string) =>
      [
        ['GET', `/v1/verifications/${id}`, undefined],
        ['POST', `/v1/verifications/${id}/check`, { code }],
        ['POST', `/v1/verifications/${id}/check`, { code: wrongCode(code) }],
        ['POST', `/v1/verifications/${id}/resend`, {}],
        ['POST', `/v1/verifications/${id}/resend`, { to: usNumber() }],
        ['POST', `/v1/verifications/${id}/resend`, { channel: 'voice' }],
      ] as const;
    const asUnknown = routes(unknown);
    for (const [i, [method, url, body]] of routes(started.id).entries()) {
      const answer = problem(await h.inject(method, url, body));
      const [, unknownUrl, unknownBody] = asUnknown[i]!;
      expect({ url, ...answer }).toEqual({
        url,
        status: 404,
        body: expect.objectContaining({ code: 'not_found' }),
      });
      expect(answer).toEqual(problem(await h.inject(method, unknownUrl, unknownBody)));
    }

    // Nothing happened to it: one code sent, every attempt left, and that code verifies.
    expect(h.codeMessages(started.id)).toHaveLength(1);
    const view = await bus().request(getChallengeV1, { challengeId: started.id });
    expect(view).toMatchObject({
      status: 'pending',
      sends: 1,
      attemptsRemaining: 5,
      channel: 'sms',
    });
    expect((await signInCheck(started.id, code, loginId)).status).toBe('approved');
  });

  it('an HTTP challenge works for the key that started it, and is not found for another key or over the bus', async () => {
    const { id, code } = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'phone_verification',
    });
    for (const [method, url, body] of [
      ['GET', `/v1/verifications/${id}`, undefined],
      ['POST', `/v1/verifications/${id}/check`, { code }],
      ['POST', `/v1/verifications/${id}/resend`, {}],
    ] as const) {
      const res = await h.inject(method, url, body, OTHER_SHOP);
      expect({ url, status: res.statusCode, code: res.json().code }).toEqual({
        url,
        status: 404,
        code: 'not_found',
      });
    }
    for (const request of [
      bus().request(getChallengeV1, { challengeId: id }),
      bus().request(checkChallengeV1, { challengeId: id, code, purpose: 'phone_verification' }),
      bus().request(resendChallengeV1, { challengeId: id }),
    ]) {
      expect((await remoteError(request)).code).toBe('not_found');
    }
    expect((await h.inject('GET', `/v1/verifications/${id}`, undefined, SF)).json()).toMatchObject({
      id,
      status: 'pending',
      attemptsRemaining: 5,
      sends: 1,
    });
    const ok = await h.inject('POST', `/v1/verifications/${id}/check`, { code });
    expect({ status: ok.statusCode, body: ok.json() }).toMatchObject({
      status: 200,
      body: { id, status: 'approved' },
    });
  });

  it("a named client's verification and Idempotency-Key answers survive the rotation of its key, for it alone", async () => {
    const OLD = { authorization: 'Bearer shop-old-key' };
    const NEW = { authorization: 'Bearer shop-new-key' };
    const body = { to: usNumber(), channel: 'sms', purpose: 'phone_verification' };
    const idem = { 'idempotency-key': `start-${randomUUID()}` };
    const started = await h.inject('POST', '/v1/verifications', body, { ...OLD, ...idem });
    expect(started.statusCode).toBe(201);
    const id = started.json<{ id: string }>().id;
    // The retry of the start, its answer lost, sent after the client switched keys: the first answer.
    const retried = await h.inject('POST', '/v1/verifications', body, { ...NEW, ...idem });
    expect({ status: retried.statusCode, id: retried.json<{ id: string }>().id }).toEqual({
      status: 201,
      id,
    });
    expect(h.codeMessages(id)).toHaveLength(1);
    const code = await h.code(id);
    // Another client (an unnamed key) neither sees it nor replays the answer.
    expect(
      (await h.inject('GET', `/v1/verifications/${id}`, undefined, OTHER_SHOP)).statusCode,
    ).toBe(404);
    const stranger = await h.inject('POST', '/v1/verifications', body, { ...OTHER_SHOP, ...idem });
    expect(stranger.statusCode).toBe(201);
    expect(stranger.json<{ id: string }>().id).not.toBe(id);
    // The new key checks the code the old key's start sent.
    const ok = await h.inject('POST', `/v1/verifications/${id}/check`, { code }, NEW);
    expect({ status: ok.statusCode, body: ok.json() }).toMatchObject({
      status: 200,
      body: { id, status: 'approved' },
    });
  });

  it('a resend moves no verification but a custom one to another destination', async () => {
    const to = usNumber();
    const { id } = await h.startVerification({ to, channel: 'sms', purpose: 'phone_verification' });
    h.clock.advance(h.config.codes.cooldownMs);
    for (const body of [
      { to: usNumber() },
      { to: usNumber(), channel: 'voice' },
      { to: 'someone@example.com', channel: 'email' },
      { to },
    ]) {
      const refused = await h.inject('POST', `/v1/verifications/${id}/resend`, body);
      expect({ status: refused.statusCode, body: refused.json() }).toMatchObject({
        status: 422,
        body: { code: 'validation_failed', errors: [{ field: 'to', code: 'not_allowed' }] },
      });
    }
    expect(h.codeMessages(id)).toHaveLength(1);
    // Without `to` it resends to the same number, on another channel if asked.
    const voice = await h.inject('POST', `/v1/verifications/${id}/resend`, { channel: 'voice' });
    expect(voice.statusCode).toBe(202);
    expect(await h.codeMessage(id, 2)).toMatchObject({ channel: 'voice', to });

    // A custom flow is the caller's own: it may name another destination.
    const custom = await h.startVerification({ to: usNumber(), channel: 'sms', purpose: 'custom' });
    h.clock.advance(h.config.codes.cooldownMs);
    const elsewhere = usNumber();
    const moved = await h.inject('POST', `/v1/verifications/${custom.id}/resend`, {
      to: elsewhere,
    });
    expect(moved.statusCode).toBe(202);
    expect(await h.codeMessage(custom.id, 2)).toMatchObject({ to: elsewhere });
  });

  it("over HTTP, a verification other than custom never goes to the named account's e-mail (its caller gave no address)", async () => {
    for (const purpose of ['phone_verification', 'sign_in', 'step_up', 'password_reset']) {
      const to = usNumber();
      const { id } = await h.startVerification({
        to,
        channel: 'sms',
        purpose,
        accountId: randomUUID(),
      });
      h.clock.advance(h.config.codes.cooldownMs);
      const view = (await h.inject('GET', `/v1/verifications/${id}`)).json();
      expect({ purpose, alternatives: view.alternatives }).toEqual({
        purpose,
        alternatives: ['voice'],
      });
      const refused = await h.inject('POST', `/v1/verifications/${id}/resend`, {
        channel: 'email',
      });
      expect({ purpose, status: refused.statusCode, body: refused.json() }).toMatchObject({
        purpose,
        status: 422,
        body: {
          code: 'validation_failed',
          errors: [{ field: 'channel', code: 'not_allowed' }],
        },
      });
      // Nothing changed: one code, to the number, still pending with every attempt, and it verifies.
      expect(h.codeMessages(id)).toHaveLength(1);
      expect((await h.inject('GET', `/v1/verifications/${id}`)).json()).toMatchObject({
        status: 'pending',
        channel: 'sms',
        sends: 1,
        attemptsRemaining: 5,
      });
      const voice = await h.inject('POST', `/v1/verifications/${id}/resend`, { channel: 'voice' });
      expect(voice.statusCode).toBe(202);
      expect(await h.codeMessage(id, 2)).toMatchObject({ channel: 'voice', to });
      const ok = await h.inject('POST', `/v1/verifications/${id}/check`, {
        code: await h.code(id, 2),
      });
      expect({ purpose, status: ok.statusCode }).toEqual({ purpose, status: 200 });
    }

    // Started by e-mail, the address the caller gave is the one it keeps.
    const byEmail = await h.startVerification({
      to: 'ana@example.com',
      channel: 'email',
      purpose: 'step_up',
      accountId: randomUUID(),
    });
    h.clock.advance(h.config.codes.cooldownMs);
    const again = await h.inject('POST', `/v1/verifications/${byEmail.id}/resend`, {
      channel: 'email',
    });
    expect(again.statusCode).toBe(202);
    expect(await h.codeMessage(byEmail.id, 2)).toMatchObject({
      channel: 'email',
      to: 'ana@example.com',
    });
  });

  it('over the bus, a resend may switch a sign-in to the account e-mail and back, never to another number', async () => {
    const to = usNumber();
    const loginId = randomUUID();
    const started = await signIn(to, loginId);
    h.clock.advance(h.config.codes.cooldownMs);
    const other = await remoteError(
      bus().request(resendChallengeV1, {
        challengeId: started.id,
        channel: 'voice',
        to: usNumber(),
      }),
    );
    expect(other).toMatchObject({ code: 'validation_failed', status: 422 });
    expect(h.codeMessages(started.id)).toHaveLength(1);

    const email = await bus().request(resendChallengeV1, {
      challengeId: started.id,
      channel: 'email',
      to: 'ana@example.com',
    });
    expect(email).toMatchObject({ channel: 'email', sends: 2 });
    expect(await h.codeMessage(started.id, 2)).toMatchObject({ to: 'ana@example.com' });
    h.clock.advance(2 * h.config.codes.cooldownMs);
    const back = await bus().request(resendChallengeV1, {
      challengeId: started.id,
      channel: 'sms',
      to,
    });
    expect(back).toMatchObject({ channel: 'sms', sends: 3 });
    const code = await h.code(started.id, 3);
    expect((await h.codeMessage(started.id, 3)).to).toBe(to);
    expect((await signInCheck(started.id, code, loginId)).status).toBe('approved');
  });
});
