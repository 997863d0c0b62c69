import { createHash, createHmac } from 'node:crypto';
import { Redis } from 'ioredis';
import { TEST_INFRA } from '@phonegate/platform/testing';
import { idempotencyFingerprintKey } from '../../src/app.module';
import { IDENTITY_REDIS } from '../../src/tokens';
import { Harness } from './support/harness';

jest.setTimeout(60_000);

/**
 * What identity's Idempotency-Key support leaves in Redis (C2): the body of a
 * request only as an HMAC under a key identity holds (no SHA-256 of a password
 * or a code), the Idempotency-Key only inside an HMAC, and every answer (a session
 * token among them) sealed under a key derived from the client's Idempotency-Key,
 * while every POST still replays its first answer (API.md).
 */
describe('identity: Idempotency-Key keeps no secret in Redis', () => {
  const h = new Harness();
  const raw = new Redis(TEST_INFRA.redisUrl, { lazyConnect: true });
  let prefix = '';
  let n = 0;
  const key = () => `idem-${Date.now()}-${++n}`;
  const sha256 = (body: unknown) => createHash('sha256').update(JSON.stringify(body)).digest('hex');

  beforeAll(async () => {
    await h.start();
    await raw.connect();
    prefix = h.app.get<Redis>(IDENTITY_REDIS).options.keyPrefix ?? '';
    expect(prefix).not.toBe('');
  }, 120_000);

  afterAll(async () => {
    await raw.quit();
    await h.close();
  }, 60_000);

  /** Every key and value identity holds in Redis, as one text. */
  async function redisText(): Promise<string> {
    const out: string[] = [];
    for (const k of await raw.keys(`${prefix}*`)) {
      const type = await raw.type(k);
      const value =
        type === 'string'
          ? await raw.get(k)
          : type === 'hash'
            ? JSON.stringify(await raw.hgetall(k))
            : type === 'set'
              ? (await raw.smembers(k)).join(' ')
              : type === 'zset'
                ? (await raw.zrange(k, 0, -1)).join(' ')
                : type === 'list'
                  ? (await raw.lrange(k, 0, -1)).join(' ')
                  : '';
      out.push(`${k} ${value ?? ''}`);
    }
    return out.join('\n');
  }

  const device = (id: string) => ({ id, name: 'Test phone', ip: '10.7.0.1' });

  it("still replays an account creation; its body (with the password) is kept only as an HMAC under identity's key", async () => {
    const body = { email: h.email(), password: h.password() };
    const headers = { 'idempotency-key': key() };
    const first = await h.call('POST', '/v1/accounts', body, headers);
    const again = await h.call('POST', '/v1/accounts', body, headers);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');

    const text = await redisText();
    expect(text).toContain(
      createHmac('sha256', idempotencyFingerprintKey(h.config))
        .update(JSON.stringify(body))
        .digest('hex'),
    );
    expect(text).not.toContain(sha256(body));
    expect(text).not.toContain(body.password);
  });

  it('replays a sign-in with the same 201 and session token, and leaves neither the token nor the key in Redis', async () => {
    const a = await h.account();
    const body = { email: a.email, password: a.password, device: device('idem-dev') };
    const headers = { 'idempotency-key': key() };
    const first = await h.call('POST', '/v1/sessions', body, headers);
    const again = await h.call('POST', '/v1/sessions', body, headers);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(typeof first.body.sessionToken).toBe('string');
    expect(again.body).toEqual(first.body);
    // Another Idempotency-Key is another sign-in: a new token.
    const other = await h.call('POST', '/v1/sessions', body, { 'idempotency-key': key() });
    expect(other.status).toBe(201);
    expect(other.body.sessionToken).not.toBe(first.body.sessionToken);

    const text = await redisText();
    expect(text).toContain('idem:http:');
    expect(text).not.toContain(first.body.sessionToken);
    expect(text).not.toContain(other.body.sessionToken);
    expect(text).not.toContain(sha256(body));
    expect(text).not.toContain(body.password);
    expect(text).not.toContain(headers['idempotency-key']);
  });

  it('code-bearing routes (a number, a challenged sign-in, a step-up, a password reset) replay their first answer and keep no secret', async () => {
    const a = await h.account();
    const stored: { body: unknown; idem: string; answer?: string }[] = [];
    const post = async (path: string, body: Record<string, unknown>) => {
      const idem = key();
      const res = await h.call('POST', path, body, { 'idempotency-key': idem });
      const replay = await h.call('POST', path, body, { 'idempotency-key': idem });
      expect({ path, status: replay.status, body: replay.body }).toEqual({
        path,
        status: res.status,
        body: res.body,
      });
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      stored.push({
        body,
        idem,
        ...(res.body?.sessionToken ? { answer: String(res.body.sessionToken) } : {}),
      });
      return res;
    };

    // A number's code.
    const number = h.phone();
    const added = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number });
    const phoneCode = await h.codeFor(added.body.verification.challengeId);
    expect(
      (await post(`/v1/accounts/${a.id}/phones/${added.body.phoneId}/verify`, { code: phoneCode }))
        .status,
    ).toBe(200);

    // A challenged sign-in's code, and its session token.
    expect(
      (await h.call('PUT', `/v1/accounts/${a.id}/two-step`, { enabled: true, method: 'sms' }))
        .status,
    ).toBe(200);
    const login = await h.call('POST', '/v1/sessions', {
      email: a.email,
      password: a.password,
      device: device('idem-new'),
    });
    expect(login.status).toBe(202);
    const loginCode = await h.codeFor(login.body.challenge.id);
    expect(
      (await post(`/v1/sessions/${login.body.loginId}/verify`, { code: loginCode })).status,
    ).toBe(201);

    // A step-up's code.
    const stepUp = await h.call('POST', `/v1/accounts/${a.id}/two-step/step-up`, {});
    const stepUpCode = await h.codeFor(stepUp.body.challenge.id);
    expect(
      (
        await post(`/v1/accounts/${a.id}/two-step/step-up/${stepUp.body.stepUpId}/verify`, {
          code: stepUpCode,
        })
      ).status,
    ).toBe(200);

    // A password reset's code and the new password.
    const since = Date.now();
    const reset = await h.call('POST', '/v1/password-resets', { phone: number });
    expect(reset.status).toBe(202);
    const resetCode = await h.codeTo(number, since);
    const newPassword = h.password();
    const complete = await post(`/v1/password-resets/${reset.body.resetId}/complete`, {
      code: resetCode,
      newPassword,
    });
    expect(complete.status).toBe(200);

    const text = await redisText();
    expect(stored.filter((s) => s.answer)).toHaveLength(1);
    expect(text).not.toContain(newPassword);
    for (const s of stored) {
      expect(text).not.toContain(s.idem);
      expect(text).not.toContain(sha256(s.body));
      if (s.answer) expect(text).not.toContain(s.answer);
    }
  });

  it('never logs a full number, a code, a password or a token', () => {
    expect(h.leaks()).toEqual([]);
  });
});
