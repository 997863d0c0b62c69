/**
 * The identity story end to end, over HTTP through the gateway, against the
 * whole platform as separate processes on the real RabbitMQ, Redis and
 * PostgreSQL, with every message read where the customer would read it: at
 * the carrier simulator (SMPP/HTTP for SMS, SMTP for e-mail). Then the
 * support view of a code message (its status timeline), and the logs of every
 * process checked for numbers, codes, passwords and tokens.
 */
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startStack, type Stack } from '../src';
import {
  BusTap,
  codeOf,
  fictionalNumber,
  gatewayClient,
  leaks,
  readLogs,
  SimInbox,
  type SimMessage,
} from './support/customer';

jest.setTimeout(60_000);

const CLIENT_IP = '198.51.100.23';
const DEVICE = { id: 'e2e-device-a', name: 'Grey phone', ip: CLIENT_IP, userAgent: 'e2e/1.0' };

describe('identity story through the gateway (whole stack as processes)', () => {
  let stack: Stack;
  let call: ReturnType<typeof gatewayClient>;
  let inbox: SimInbox;
  let tap: BusTap;

  const phone = fictionalNumber('415');
  const email = `e2e.${Date.now().toString(36)}@example.com`;
  const password = `first-Pass-${Math.random().toString(36).slice(2, 10)}`;
  const newPassword = `second-Pass-${Math.random().toString(36).slice(2, 10)}`;
  // Everything that must never appear in a log line.
  const sentCodes: string[] = [];
  const sessionTokens: string[] = [];

  let accountId = '';
  let phoneId = '';
  let signInChallengeId = '';
  let signInRequestId = '';
  let signInSms: SimMessage | undefined;
  let sessionId = '';

  const takeCode = (m: SimMessage) => {
    const code = codeOf(m);
    sentCodes.push(code);
    return code;
  };
  const wrongCodeFor = (code: string) =>
    String((Number(code) + 1) % 10 ** code.length).padStart(code.length, '0');

  beforeAll(async () => {
    stack = await startStack();
    call = gatewayClient(stack, 'e2e-identity');
    inbox = new SimInbox(stack.sim.controlUrl);
    // What a downstream consumer sees: every notification request, and the notifier's outcomes.
    tap = await BusTap.open(stack.amqpUrl, [
      'notification.requested.v1.#',
      'notification.sent.v1',
      'notification.delivered.v1',
    ]);
  }, 120_000);

  afterAll(async () => {
    await tap?.close();
    await stack?.stop();
  }, 60_000);

  it('creates an account (and refuses the same e-mail again, in any case)', async () => {
    const created = await call('POST', '/v1/accounts', {
      key: stack.keys.storefront,
      body: { email, password, name: 'E2E Customer' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email, phones: [], twoStep: { enabled: false } });
    accountId = created.body['id'] as string;
    expect(accountId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.headers.get('x-request-id')).toMatch(/^e2e-identity-/);

    const again = await call('POST', '/v1/accounts', {
      key: stack.keys.storefront,
      body: { email: email.toUpperCase(), password },
    });
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(again.body['code']).toBe('email_taken');

    const noKey = await call('GET', `/v1/accounts/${accountId}`, { key: null });
    expect(noKey.status).toBe(401);
  });

  it('adds a number in national form: its SMS code reaches the phone through otp, the notifier and a carrier', async () => {
    const added = await call('POST', `/v1/accounts/${accountId}/phones`, {
      key: stack.keys.storefront,
      headers: { 'x-client-ip': CLIENT_IP },
      body: {
        number: `(${phone.national.slice(0, 3)}) ${phone.national.slice(3, 6)}-${phone.national.slice(6)}`,
        country: 'US',
      },
    });
    expect(added.status).toBe(202);
    expect(added.body).toMatchObject({ status: 'pending', verification: { channel: 'sms' } });
    phoneId = added.body['phoneId'] as string;
    const shownTo = (added.body['verification'] as { to: string }).to;
    expect(shownTo).toMatch(new RegExp(`${phone.e164.slice(-2)}$`));
    expect(shownTo.replace(/\D/g, '')).not.toContain(phone.national);

    const sms = await inbox.next(phone.e164, 'sms');
    expect(['smpp-a', 'http-b']).toContain(sms.carrier);
    expect(sms.body).toMatch(/verification code/i);
    expect(sms.body.trim().split('\n').pop()).toMatch(/^@localhost #\d{6}$/);
    takeCode(sms);
  });

  it('a wrong code is refused with attemptsRemaining; the right one verifies the number, which becomes primary', async () => {
    const code = sentCodes[0]!;
    const wrong = await call('POST', `/v1/accounts/${accountId}/phones/${phoneId}/verify`, {
      key: stack.keys.storefront,
      body: { code: wrongCodeFor(code) },
    });
    expect(wrong.status).toBe(422);
    expect(wrong.body['code']).toBe('code_mismatch');
    expect(wrong.body['attemptsRemaining']).toEqual(expect.any(Number));

    const verified = await call('POST', `/v1/accounts/${accountId}/phones/${phoneId}/verify`, {
      key: stack.keys.storefront,
      body: { code },
    });
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ phoneId, status: 'verified', primary: true });

    const account = await call('GET', `/v1/accounts/${accountId}`, { key: stack.keys.storefront });
    expect(account.status).toBe(200);
    expect(account.body['phones']).toEqual([
      expect.objectContaining({ phoneId, number: phone.e164, status: 'verified', primary: true }),
    ]);
  });

  it('turns two-step on by SMS', async () => {
    const on = await call('PUT', `/v1/accounts/${accountId}/two-step`, {
      key: stack.keys.storefront,
      body: { enabled: true, method: 'sms' },
    });
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ enabled: true, method: 'sms' });
    const read = await call('GET', `/v1/accounts/${accountId}/two-step`, {
      key: stack.keys.storefront,
    });
    expect(read.body).toMatchObject({ enabled: true, method: 'sms' });
  });

  it('refuses a wrong password and an unknown e-mail with the same 401', async () => {
    const wrong = await call('POST', '/v1/sessions', {
      key: stack.keys.storefront,
      body: { email, password: `${password}x`, device: DEVICE },
    });
    const unknown = await call('POST', '/v1/sessions', {
      key: stack.keys.storefront,
      body: { email: `nobody.${email}`, password, device: DEVICE },
    });
    expect([wrong.status, unknown.status]).toEqual([401, 401]);
    expect(wrong.body['code']).toBe('invalid_credentials');
    expect(unknown.body['code']).toBe('invalid_credentials');
    expect(unknown.body['detail']).toBe(wrong.body['detail']);
  });

  it('a sign-in from a new device is challenged (202) and the code arrives by SMS', async () => {
    const started = await call('POST', '/v1/sessions', {
      key: stack.keys.storefront,
      body: { email, password, device: DEVICE },
    });
    expect(started.status).toBe(202);
    expect(started.body['sessionToken']).toBeUndefined();
    const challenge = started.body['challenge'] as { id: string; channel: string; to: string };
    expect(challenge).toMatchObject({
      channel: 'sms',
      to: expect.stringMatching(new RegExp(`${phone.e164.slice(-2)}$`)),
    });
    signInChallengeId = challenge.id;
    signInRequestId = started.requestId;
    expect(started.headers.get('x-request-id')).toBe(signInRequestId);

    signInSms = await inbox.next(phone.e164, 'sms');
    expect(signInSms.body).toMatch(/sign-in code/i);
    const code = takeCode(signInSms);

    const done = await call('POST', `/v1/sessions/${started.body['loginId'] as string}/verify`, {
      key: stack.keys.storefront,
      body: { code, rememberDevice: true },
    });
    expect(done.status).toBe(201);
    const token = done.body['sessionToken'] as string;
    sessionTokens.push(token);
    expect(Date.parse(done.body['expiresAt'] as string)).toBeGreaterThan(Date.now());

    // The token is an EdDSA JWT signed with a key of the public JWKS (no API key needed to read it).
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA', kid: expect.any(String) });
    const jwks = createRemoteJWKSet(new URL(`${stack.gatewayUrl}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(token, jwks, {
      issuer: 'phonegate-identity',
      audience: 'storefront',
    });
    expect(payload).toMatchObject({ sub: accountId, did: DEVICE.id });
    sessionId = payload['sid'] as string;
    expect(sessionId).toEqual(expect.any(String));

    // The same code does not work twice.
    const replay = await call('POST', `/v1/sessions/${started.body['loginId'] as string}/verify`, {
      key: stack.keys.storefront,
      body: { code },
    });
    expect(replay.status).toBe(410);
    expect(replay.body['code']).toBe('code_expired');
  });

  it('the remembered device signs in again at once (201), and no code is sent', async () => {
    const again = await call('POST', '/v1/sessions', {
      key: stack.keys.storefront,
      body: { email, password, device: DEVICE },
    });
    expect(again.status).toBe(201);
    expect(again.body['sessionToken']).toEqual(expect.any(String));
    sessionTokens.push(again.body['sessionToken'] as string);
    expect(await inbox.nothingNew(phone.e164, 'sms', 1_500)).toEqual([]);
  });

  it('the e-mail is told about the new device once, over SMTP', async () => {
    const alert = await inbox.next(email, 'email', (m) => /new sign-in/i.test(m.subject ?? ''));
    expect(alert.carrier).toBe('smtp-main');
    expect(alert.body).toContain(DEVICE.name);
    expect(alert.body).not.toContain(phone.national);
    // The second sign-in was from the same device: no second alert.
    const others = await inbox.nothingNew(email, 'email', 500);
    expect(others.filter((m) => /new sign-in/i.test(m.subject ?? ''))).toEqual([]);
  });

  it('support sees the sign-in code message: queued → sent → delivered, carrier named, destination masked, no code', async () => {
    const requested = await tap.waitFor(
      (e) =>
        e.routingKey.startsWith('notification.requested.v1') &&
        (e.envelope.data['origin'] as { ref?: string } | undefined)?.ref === signInChallengeId,
    );
    const messageId = requested.envelope.data['messageId'] as string;
    // The caller's x-request-id travelled with the request across identity → otp → the bus.
    expect(requested.envelope.correlationid).toBe(signInRequestId);
    // The code travelled encrypted on the bus.
    expect(JSON.stringify(requested.envelope)).not.toContain(sentCodes[1]!);

    const view = await eventuallyDelivered(messageId);
    const statuses = view.timeline.map((t) => t.status);
    expect(statuses.indexOf('queued')).toBeGreaterThanOrEqual(0);
    expect(statuses.indexOf('sent')).toBeGreaterThan(statuses.indexOf('queued'));
    expect(statuses.indexOf('delivered')).toBeGreaterThan(statuses.indexOf('sent'));
    expect(view).toMatchObject({
      messageId,
      status: 'delivered',
      channel: 'sms',
      template: 'otp.sign_in',
      carrier: signInSms!.carrier,
    });
    expect(view.timeline.find((t) => t.status === 'sent')?.carrier).toBe(signInSms!.carrier);
    expect(view.to).toMatch(new RegExp(`${phone.e164.slice(-2)}$`));
    expect(view.to.replace(/\D/g, '')).not.toContain(phone.national);
    const shown = JSON.stringify(view);
    expect(shown).not.toContain(sentCodes[1]!);
    expect(shown).not.toContain(phone.national);

    // The same through the outcome events on the bus.
    await tap.waitFor(
      (e) =>
        e.routingKey === 'notification.delivered.v1' && e.envelope.data['messageId'] === messageId,
    );

    // Support scope: a logistics key may not read messages; an unknown id is 404.
    expect(
      (await call('GET', `/v1/messages/${messageId}`, { key: stack.keys.logistics })).status,
    ).toBe(403);
    expect(
      (
        await call('GET', '/v1/messages/00000000-0000-4000-8000-000000000000', {
          key: stack.keys.ops,
        })
      ).status,
    ).toBe(404);
  });

  it('resets the password by phone end to end: sessions and remembered devices are revoked, the e-mail is told', async () => {
    const asked = await call('POST', '/v1/password-resets', {
      key: stack.keys.storefront,
      headers: { 'x-client-ip': CLIENT_IP },
      body: { phone: phone.e164 },
    });
    expect(asked.status).toBe(202);
    const resetId = asked.body['resetId'] as string;
    expect(resetId).toEqual(expect.any(String));

    const sms = await inbox.next(phone.e164, 'sms');
    expect(sms.body).toMatch(/password reset code/i);
    const code = takeCode(sms);

    const completed = await call('POST', `/v1/password-resets/${resetId}/complete`, {
      key: stack.keys.storefront,
      body: { code, newPassword },
    });
    expect(completed.status).toBe(200);
    expect(completed.body).toMatchObject({ resetId, status: 'completed' });

    const session = await call('GET', `/v1/sessions/${sessionId}`, { key: stack.keys.storefront });
    expect(session.status).toBe(200);
    expect(session.body['active']).toBe(false);

    const oldPassword = await call('POST', '/v1/sessions', {
      key: stack.keys.storefront,
      body: { email, password, device: DEVICE },
    });
    expect(oldPassword.status).toBe(401);
    // The device is no longer remembered: the new password signs in with a code again.
    const fresh = await call('POST', '/v1/sessions', {
      key: stack.keys.storefront,
      body: { email, password: newPassword, device: DEVICE },
    });
    expect(fresh.status).toBe(202);
    takeCode(await inbox.next(phone.e164, 'sms', (m) => /sign-in code/i.test(m.body)));

    const told = await inbox.next(email, 'email', (m) => /password/i.test(m.subject ?? ''));
    expect(told.body).not.toContain(newPassword);
  });

  it('asks for a reset of a number no account has: the same 202, and nothing is sent', async () => {
    const stranger = fictionalNumber('212');
    const asked = await call('POST', '/v1/password-resets', {
      key: stack.keys.storefront,
      headers: { 'x-client-ip': CLIENT_IP },
      body: { phone: stranger.e164 },
    });
    expect(asked.status).toBe(202);
    expect(Object.keys(asked.body)).toEqual(['resetId']);
    expect(await inbox.nothingNew(stranger.e164, 'sms', 1_000)).toEqual([]);
  });

  it('no process logged a full number, a code, a password or a session token', async () => {
    const logs = await readLogs(stack);
    expect(Object.keys(logs).sort()).toEqual([
      'carrier-sim',
      'delivery-otp',
      'identity',
      'notifier',
      'otp',
    ]);
    expect(sentCodes).toHaveLength(4);
    expect(sessionTokens.length).toBeGreaterThanOrEqual(2);

    const secrets = {
      phone: [phone.e164, phone.national],
      code: sentCodes,
      password: [password, newPassword],
      sessionToken: sessionTokens.flatMap((t) => [t, t.split('.')[2]!]),
    };
    const found = Object.entries(logs).flatMap(([name, text]) =>
      leaks(text, secrets).map((l) => `${name}: ${l}`),
    );
    expect(found).toEqual([]);
  });

  async function eventuallyDelivered(messageId: string) {
    interface View {
      messageId: string;
      status: string;
      to: string;
      carrier: string | null;
      timeline: { status: string; at: string; carrier?: string }[];
    }
    const deadline = Date.now() + 20_000;
    for (;;) {
      const got = await call<View>('GET', `/v1/messages/${messageId}`, { key: stack.keys.ops });
      if (got.status === 200 && got.body.timeline.some((t) => t.status === 'delivered'))
        return got.body;
      if (Date.now() > deadline)
        throw new Error(
          `message not delivered in time: ${got.status} ${JSON.stringify(got.body.timeline?.map((t) => t.status))}`,
        );
      await new Promise((r) => setTimeout(r, 200));
    }
  }
});
