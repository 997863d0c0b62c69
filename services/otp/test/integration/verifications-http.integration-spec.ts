import { randomUUID } from 'node:crypto';
import {
  challengeApprovedV1,
  challengeCreatedV1,
  challengeExpiredV1,
  challengeFailedAttemptV1,
  startChallengeV1,
} from '@phonegate/contracts';
import { eventually } from '@phonegate/platform/testing';
import { OPS, SF, startedOtp, usNumber, wrongCode } from '../support/otp-harness';
import { approvedStepUp } from './support/step-up';

describe('otp verifications over HTTP (real Redis, PostgreSQL, RabbitMQ)', () => {
  const h = startedOtp();

  it('starts a verification: 201 with a masked destination, and one critical notification with the code encrypted', async () => {
    const to = usNumber();
    const accountId = randomUUID();
    const res = await h.inject('POST', '/v1/verifications', {
      to,
      channel: 'sms',
      purpose: 'phone_verification',
      accountId,
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({
      status: 'pending',
      channel: 'sms',
      purpose: 'phone_verification',
      attemptsRemaining: 5,
      sends: 1,
    });
    expect(body.to).toBe(`+1 ••• ••• ••${to.slice(-2)}`);
    const now = h.clock.nowMs();
    expect(Date.parse(body.expiresAt) - now).toBe(10 * 60_000);
    expect(Date.parse(body.resendAvailableAt) - now).toBe(30_000);

    const msg = await h.codeMessage(body.id);
    const caught = h.caught.find(
      (c) => c.type === 'notification.requested.v1' && c.raw.includes(body.id),
    )!;
    expect(caught.routingKey).toBe('notification.requested.v1.critical');
    expect(msg).toMatchObject({
      priority: 'critical',
      channel: 'sms',
      to,
      accountId,
      template: 'otp.phone_verification',
      notAfter: body.expiresAt,
      dedupeKey: `otp:${body.id}:1`,
      origin: { service: 'otp', ref: body.id },
    });
    expect(msg.variables).toMatchObject({ host: 'shop.example.com', minutes: 10 });
    expect(String(msg.variables['code'])).toMatch(/^\d{6}$/);
    expect(String(msg.variables['reportUrl'])).toMatch(
      new RegExp(`^https://otp\\.example\\.com/v1/verifications/${body.id}/report\\?t=`),
    );
    // At rest in the broker the code and the report token are ciphertext.
    expect(caught.raw).not.toContain(String(msg.variables['code']));
    expect(caught.raw).not.toContain(String(msg.variables['reportUrl']));
    await eventually(() => h.events(challengeCreatedV1).some((e) => e.challengeId === body.id));
  });

  it('checks: 422 code_mismatch with attemptsRemaining, 200 approved, then the code is spent (410)', async () => {
    const { id, code } = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'phone_verification',
    });
    const wrong = await h.inject('POST', `/v1/verifications/${id}/check`, {
      code: wrongCode(code),
    });
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 4 });
    const right = await h.inject('POST', `/v1/verifications/${id}/check`, { code });
    expect(right.statusCode).toBe(200);
    expect(right.json()).toMatchObject({ id, status: 'approved' });
    const again = await h.inject('POST', `/v1/verifications/${id}/check`, { code });
    expect(again.statusCode).toBe(410);
    expect(again.json().code).toBe('code_expired');
    const status = await h.inject('GET', `/v1/verifications/${id}`);
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({ id, status: 'approved', attemptsRemaining: 4 });
    await eventually(() => h.events(challengeApprovedV1).some((e) => e.challengeId === id));
    expect(h.events(challengeFailedAttemptV1).filter((e) => e.challengeId === id)).toHaveLength(1);
  });

  it('locks after the fifth wrong code (429 too_many_attempts) and then refuses the right code', async () => {
    const { id, code } = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'phone_verification',
    });
    for (let i = 4; i >= 1; i--) {
      const res = await h.inject('POST', `/v1/verifications/${id}/check`, {
        code: wrongCode(code),
      });
      expect(res.json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: i });
    }
    const fifth = await h.inject('POST', `/v1/verifications/${id}/check`, {
      code: wrongCode(code),
    });
    expect(fifth.statusCode).toBe(429);
    expect(fifth.json()).toMatchObject({ code: 'too_many_attempts', attemptsRemaining: 0 });
    expect(Number(fifth.headers['retry-after'])).toBeGreaterThan(0);
    const right = await h.inject('POST', `/v1/verifications/${id}/check`, { code });
    expect(right.statusCode).toBe(429);
    expect((await h.inject('GET', `/v1/verifications/${id}`)).json().status).toBe('locked');
  });

  it('refuses an expired code with 410 code_expired (expiry checked in code) and publishes the expiry once', async () => {
    const { id, code } = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'sign_in',
      accountId: randomUUID(),
    });
    h.clock.advance(5 * 60_000);
    const res = await h.inject('POST', `/v1/verifications/${id}/check`, { code });
    expect(res.statusCode).toBe(410);
    expect(res.json().code).toBe('code_expired');
    expect((await h.inject('GET', `/v1/verifications/${id}`)).json().status).toBe('expired');
    await eventually(() => h.events(challengeExpiredV1).some((e) => e.challengeId === id));
    await new Promise((r) => setTimeout(r, 500));
    expect(h.events(challengeExpiredV1).filter((e) => e.challengeId === id)).toHaveLength(1);
  });

  it('publishes the expiry of a challenge nobody checks (the sweeper)', async () => {
    const { id } = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'step_up',
    });
    h.clock.advance(5 * 60_000 + 1);
    await eventually(() => h.events(challengeExpiredV1).some((e) => e.challengeId === id), 5000);
    expect((await h.inject('GET', `/v1/verifications/${id}`)).json().status).toBe('expired');
  });

  it('resends with an honest Retry-After: 429 before the cooldown, 202 exactly at it; the old code dies; cooldown grows', async () => {
    const { id, code: first } = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'phone_verification',
    });
    // A wrong code before the resend still counts after it (C8: a resend never resets attempts).
    await h.inject('POST', `/v1/verifications/${id}/check`, { code: wrongCode(first) });
    h.clock.advance(10_000);
    const early = await h.inject('POST', `/v1/verifications/${id}/resend`, {});
    expect(early.statusCode).toBe(429);
    expect(early.json().code).toBe('resend_cooldown');
    const wait = Number(early.headers['retry-after']);
    expect(wait).toBe(20);
    h.clock.advance(wait * 1000 - 1);
    expect((await h.inject('POST', `/v1/verifications/${id}/resend`, {})).statusCode).toBe(429);
    h.clock.advance(1);
    const resent = await h.inject('POST', `/v1/verifications/${id}/resend`, {});
    expect(resent.statusCode).toBe(202);
    expect(resent.json()).toMatchObject({ sends: 2, attemptsRemaining: 4 });
    expect(Date.parse(resent.json().resendAvailableAt) - h.clock.nowMs()).toBe(60_000);
    const second = await h.code(id, 2);
    const old = await h.inject('POST', `/v1/verifications/${id}/check`, { code: first });
    if (first !== second) {
      expect(old.statusCode).toBe(422);
      expect(old.json().attemptsRemaining).toBe(3);
    }
    // The next cooldown is 60 s: honest again.
    const next = await h.inject('POST', `/v1/verifications/${id}/resend`, {});
    expect(next.statusCode).toBe(429);
    expect(Number(next.headers['retry-after'])).toBe(60);
    const ok = await h.inject('POST', `/v1/verifications/${id}/check`, { code: second });
    expect(ok.statusCode).toBe(200);
  });

  it('sends at most five codes a challenge (429 rate_limited with Retry-After)', async () => {
    const { id } = await h.startVerification({ to: usNumber(), channel: 'sms', purpose: 'custom' });
    for (let send = 2; send <= 5; send++) {
      // After the growing cooldown (30, 60, 120, 240 s) and before the current code expires.
      h.clock.advance(4 * 60_000);
      const res = await h.inject('POST', `/v1/verifications/${id}/resend`, {});
      expect(res.statusCode).toBe(202);
      expect(res.json().sends).toBe(send);
    }
    h.clock.advance(8 * 60_000);
    const sixth = await h.inject('POST', `/v1/verifications/${id}/resend`, {});
    expect(sixth.statusCode).toBe(429);
    expect(sixth.json().code).toBe('rate_limited');
    expect(Number(sixth.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('switches channel on request (voice) and offers the alternatives', async () => {
    const accountId = randomUUID();
    const { id } = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'phone_verification',
      accountId,
    });
    // The number is the only destination its caller gave: the account's e-mail is not offered.
    expect((await h.inject('GET', `/v1/verifications/${id}`)).json().alternatives).toEqual([
      'voice',
    ]);
    h.clock.advance(30_000);
    const res = await h.inject('POST', `/v1/verifications/${id}/resend`, { channel: 'voice' });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ channel: 'voice', alternatives: ['sms'] });
    expect((await h.codeMessage(id, 2)).channel).toBe('voice');

    // A custom flow is its caller's own: it may send the account's e-mail a code.
    const custom = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'custom',
      accountId,
    });
    expect(custom.body['alternatives']).toEqual(['voice', 'email']);
    h.clock.advance(30_000);
    const email = await h.inject('POST', `/v1/verifications/${custom.id}/resend`, {
      channel: 'email',
    });
    expect(email.statusCode).toBe(202);
    const msg = await h.codeMessage(custom.id, 2);
    // No address given: the notifier resolves the account's e-mail.
    expect(msg).toMatchObject({ channel: 'email', accountId });
    expect(msg.to).toBeUndefined();
  });

  it('sends e-mail codes with the e-mail lifetime for custom flows, and the short one for sign-in', async () => {
    const custom = await h.inject('POST', '/v1/verifications', {
      to: 'Ana.Lopez@Example.com',
      channel: 'email',
      purpose: 'custom',
    });
    expect(custom.statusCode).toBe(201);
    expect(custom.json().to).toBe('a•••@example.com');
    expect(Date.parse(custom.json().expiresAt) - h.clock.nowMs()).toBe(30 * 60_000);
    expect(await h.codeMessage(custom.json().id)).toMatchObject({
      channel: 'email',
      to: 'ana.lopez@example.com',
      template: 'otp.verification',
    });
    const signIn = await h.inject('POST', '/v1/verifications', {
      to: 'ana@example.com',
      channel: 'email',
      purpose: 'sign_in',
    });
    expect(Date.parse(signIn.json().expiresAt) - h.clock.nowMs()).toBe(5 * 60_000);
    const bad = await h.inject('POST', '/v1/verifications', {
      to: 'not-an-address',
      channel: 'email',
      purpose: 'custom',
    });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors[0].field).toBe('to');
  });

  it('answers 404 for unknown or malformed ids, 401 without or with a wrong key, 403 without the scope', async () => {
    expect((await h.inject('GET', `/v1/verifications/${randomUUID()}`)).statusCode).toBe(404);
    expect((await h.inject('GET', '/v1/verifications/not-a-uuid')).statusCode).toBe(404);
    expect(
      (await h.inject('POST', `/v1/verifications/${randomUUID()}/check`, { code: '123456' }))
        .statusCode,
    ).toBe(404);
    expect(
      (await h.inject('POST', `/v1/verifications/${randomUUID()}/resend`, {})).statusCode,
    ).toBe(404);
    const body = { to: usNumber(), channel: 'sms', purpose: 'custom' };
    expect((await h.inject('POST', '/v1/verifications', body, {})).statusCode).toBe(401);
    expect(
      (await h.inject('POST', '/v1/verifications', body, { authorization: 'Bearer nope' }))
        .statusCode,
    ).toBe(401);
    const forbidden = await h.inject('POST', '/v1/verifications', body, OPS);
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().code).toBe('forbidden');
  });

  it('validates input: 422 with field errors, invalid_phone_number, destination_refused for VoIP two-step', async () => {
    const bad = await h.inject('POST', '/v1/verifications', {
      to: usNumber(),
      channel: 'fax',
      purpose: 'nope',
    });
    expect(bad.statusCode).toBe(422);
    expect(
      bad
        .json()
        .errors.map((e: { field: string }) => e.field)
        .sort(),
    ).toEqual(['channel', 'purpose']);
    const invalid = await h.inject('POST', '/v1/verifications', {
      to: '+1555',
      channel: 'sms',
      purpose: 'custom',
    });
    expect(invalid.statusCode).toBe(422);
    expect(invalid.json().code).toBe('invalid_phone_number');
    const voip = await h.inject('POST', '/v1/verifications', {
      to: '+445612345678',
      channel: 'sms',
      purpose: 'sign_in',
    });
    expect(voip.statusCode).toBe(422);
    expect(voip.json()).toMatchObject({ code: 'destination_refused', reason: 'voip' });
    const premium = await h.inject('POST', '/v1/verifications', {
      to: '+19005550123',
      channel: 'sms',
      purpose: 'phone_verification',
    });
    expect(premium.json()).toMatchObject({ code: 'destination_refused', reason: 'premium_rate' });
    const national = await h.inject('POST', '/v1/verifications', {
      to: '0151 2345 6789',
      country: 'DE',
      channel: 'sms',
      purpose: 'custom',
    });
    expect(national.statusCode).toBe(201);
    const checkBad = await h.inject('POST', `/v1/verifications/${national.json().id}/check`, {});
    expect(checkBad.statusCode).toBe(422);
    expect(checkBad.json().code).toBe('validation_failed');
  });

  it('binds a check to purpose and reference when given (C6)', async () => {
    const { id, code } = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'sign_in',
      ref: 'login-A',
    });
    expect(
      (await h.inject('POST', `/v1/verifications/${id}/check`, { code, purpose: 'step_up' }))
        .statusCode,
    ).toBe(404);
    expect(
      (
        await h.inject('POST', `/v1/verifications/${id}/check`, {
          code,
          purpose: 'sign_in',
          ref: 'login-B',
        })
      ).statusCode,
    ).toBe(404);
    // Neither cost an attempt.
    expect((await h.inject('GET', `/v1/verifications/${id}`)).json().attemptsRemaining).toBe(5);
    const ok = await h.inject('POST', `/v1/verifications/${id}/check`, {
      code,
      purpose: 'sign_in',
      ref: 'login-A',
    });
    expect(ok.statusCode).toBe(200);
  });

  it('keeps any text of a reference: non-ASCII, and an unpaired surrogate stored as U+FFFD (as before)', async () => {
    for (const ref of ['connexion-é-😀', 'half-\ud800-pair']) {
      const { id, code } = await h.startVerification({
        to: usNumber(),
        channel: 'sms',
        purpose: 'sign_in',
        ref,
      });
      const res = await h.inject('POST', `/v1/verifications/${id}/check`, {
        code,
        purpose: 'sign_in',
        ref,
      });
      expect({ ref, status: res.statusCode }).toEqual({ ref, status: 200 });
    }
  });

  it('"I didn\'t ask for this": a GET of the link only asks; its button kills the pending code and tells the owner; a wrong token is 404', async () => {
    const { accountId, id, ref, code, link } = await h.reportableSignIn();
    const url = `${link.pathname}${link.search}`;
    const forged = `${link.pathname}?t=c1.AAAAAAAAAAAAAAAAAAAAAA`;
    expect((await h.app.inject({ method: 'GET', url: forged })).statusCode).toBe(404);
    expect((await h.app.inject({ method: 'POST', url: forged })).statusCode).toBe(404);

    // A link scanner or a message preview fetches the link: the code lives on.
    for (let i = 0; i < 3; i++) {
      const page = await h.app.inject({ method: 'GET', url });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toContain('text/html');
      expect(page.headers['cache-control']).toBe('no-store');
      expect(page.body).toContain('<form method="post"');
    }
    expect(await h.busView(id)).toMatchObject({ status: 'pending', attemptsRemaining: 5 });
    expect(h.alerts('security.code_reported').some((a) => a.accountId === accountId)).toBe(false);

    // The person presses the button: the browser posts the form (text/plain, empty) to the same URL.
    const pressed = await h.app.inject({
      method: 'POST',
      url,
      headers: { accept: 'text/html,application/xhtml+xml', 'content-type': 'text/plain' },
      payload: '',
    });
    expect(pressed.statusCode).toBe(200);
    expect(pressed.headers['content-type']).toContain('text/html');
    expect(pressed.body).toContain('Thank you');
    expect(await h.busView(id)).toMatchObject({ status: 'expired', endReason: 'reported' });
    expect(await h.busSignInCheck({ id, ref }, code)).toBe('code_expired');
    const alert = await eventually(() =>
      h.alerts('security.code_reported').find((a) => a.accountId === accountId),
    );
    expect(alert).toMatchObject({ channel: 'email', priority: 'critical' });
    expect(alert.to).toBeUndefined();
    // A POST by a program answers JSON, and is idempotent; the owner is told once.
    const again = await h.app.inject({ method: 'POST', url });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ id, status: 'reported' });
    await new Promise((r) => setTimeout(r, 300));
    expect(
      h.alerts('security.code_reported').filter((a) => a.accountId === accountId),
    ).toHaveLength(1);
  });

  it("a storefront's verification naming an account sends its owner no security alert (locked by wrong codes, or reported); identity's own do", async () => {
    const named: string[] = [];
    for (const purpose of ['sign_in', 'step_up', 'phone_verification', 'custom']) {
      const locked = await h.shopVerification(purpose);
      const answers = [];
      for (let i = 0; i < 5; i++) {
        const res = await h.inject('POST', `/v1/verifications/${locked.id}/check`, {
          code: wrongCode(locked.code),
        });
        answers.push(res.statusCode);
      }
      expect({ purpose, answers }).toEqual({ purpose, answers: [422, 422, 422, 422, 429] });

      const reported = await h.shopVerification(purpose);
      const link = await h.reportLink(reported.id);
      const res = await h.app.inject({ method: 'POST', url: `${link.pathname}${link.search}` });
      expect(res.json()).toEqual({ id: reported.id, status: 'reported' });
      // The report still kills the code.
      expect((await h.inject('GET', `/v1/verifications/${reported.id}`)).json()).toMatchObject({
        status: 'expired',
        endReason: 'reported',
      });
      named.push(locked.accountId, reported.accountId);
    }

    // identity's own sign-in locked by wrong codes: its owner is told (as before).
    const own = await h.reportableSignIn();
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await h.busSignInCheck(own, wrongCode(own.code)));
    expect(answers.at(-1)).toBe('too_many_attempts');
    const alert = await eventually(() =>
      h.alerts('security.lockout').find((a) => a.accountId === own.accountId),
    );
    expect(alert).toMatchObject({
      channel: 'email',
      priority: 'critical',
      variables: expect.objectContaining({ scope: 'challenge' }),
    });
    const alerted = h.caught
      .filter((c) => c.type === 'notification.requested.v1')
      .map((c) => c.data as { template: string; accountId?: string })
      .filter((d) => d.template.startsWith('security.') && named.includes(d.accountId ?? ''));
    expect(alerted).toEqual([]);
  });

  it('tells the owner when several sign-in codes are requested without a successful sign-in', async () => {
    const accountId = randomUUID();
    const signIn = () =>
      h.identity.events.request(startChallengeV1, {
        purpose: 'sign_in',
        channel: 'sms',
        to: usNumber(),
        accountId,
      });
    const unrequested = async () => Number((await h.runtime.redis.get(`unreq:${accountId}`)) ?? 0);
    await signIn();
    await signIn();
    // A storefront's sign-in codes naming the account are not the account's: they are not
    // counted, and their approval does not clear the count.
    for (let i = 0; i < 3; i++)
      await h.startVerification({ to: usNumber(), channel: 'sms', purpose: 'sign_in', accountId });
    const shop = await h.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose: 'sign_in',
      accountId,
    });
    expect(
      (await h.inject('POST', `/v1/verifications/${shop.id}/check`, { code: shop.code }))
        .statusCode,
    ).toBe(200);
    expect(await unrequested()).toBe(2);
    expect(h.alerts('security.unrequested_codes').some((a) => a.accountId === accountId)).toBe(
      false,
    );
    await signIn();
    const alert = await eventually(() =>
      h.alerts('security.unrequested_codes').find((a) => a.accountId === accountId),
    );
    expect(alert).toMatchObject({
      channel: 'email',
      priority: 'critical',
      variables: expect.objectContaining({ count: 3 }),
    });
    expect(alert.to).toBeUndefined();
  });

  it('replays a start with the same Idempotency-Key (one code sent), and the answers that hold secrets too', async () => {
    const headers = { ...SF, 'idempotency-key': `k-${randomUUID()}` };
    const body = { to: usNumber(), channel: 'sms', purpose: 'phone_verification' };
    const first = await h.app.inject({
      method: 'POST',
      url: '/v1/verifications',
      headers,
      payload: body,
    });
    const again = await h.app.inject({
      method: 'POST',
      url: '/v1/verifications',
      headers,
      payload: body,
    });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.json()).toEqual(first.json());
    await h.codeMessage(first.json().id);
    await new Promise((r) => setTimeout(r, 200));
    expect(h.codeMessages(first.json().id)).toHaveLength(1);
    const accountId = randomUUID();
    const enrolHeaders = { ...SF, 'idempotency-key': `k-${randomUUID()}` };
    const a = await h.app.inject({
      method: 'POST',
      url: `/v1/accounts/${accountId}/backup-codes`,
      headers: enrolHeaders,
    });
    const b = await h.app.inject({
      method: 'POST',
      url: `/v1/accounts/${accountId}/backup-codes`,
      headers: enrolHeaders,
    });
    expect(a.statusCode).toBe(201);
    expect(b.statusCode).toBe(201);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(b.json().codes).toEqual(a.json().codes);
    // Another key is another request: a new set, which needs a step-up of the account (S8).
    const other = await h.app.inject({
      method: 'POST',
      url: `/v1/accounts/${accountId}/backup-codes`,
      headers: { ...SF, 'idempotency-key': `k-${randomUUID()}` },
      payload: { stepUpId: await approvedStepUp(h, accountId) },
    });
    expect(other.statusCode).toBe(201);
    expect(other.json().codes).not.toEqual(a.json().codes);
  });

  it('serves health, metrics and its OpenAPI document', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('otp_codes_issued_total');
    expect(metrics).toContain('otp_checks_total');
    const doc = (await h.app.inject({ method: 'GET', url: '/docs-json' })).json<{
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    }>();
    expect(doc.paths['/v1/verifications']?.['post']?.requestBody).toBeDefined();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/verifications/{id}/check',
        '/v1/verifications/{id}/resend',
        '/v1/accounts/{accountId}/backup-codes',
      ]),
    );
  });
});
