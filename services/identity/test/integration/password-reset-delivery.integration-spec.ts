import type { Redis } from 'ioredis';
import { type ResetRecord, ResetStore } from '../../src/password-resets/reset.store';
import { IDENTITY_REDIS } from '../../src/tokens';
import { Harness, sleep } from './support/harness';

jest.setTimeout(90_000);

/** The harness, with the otp process started again after a kill (the harness's own starter). */
class RestartingHarness extends Harness {
  restartOtp(env: Record<string, string>): Promise<void> {
    return this['startOtp'](env);
  }
}

/**
 * A password reset's code is sent durably: stored with the reset, tried
 * again while the otp service cannot be reached, and sent by a sweep when the
 * process that accepted it stopped first. Real PostgreSQL, Redis, RabbitMQ and
 * the otp service as a process.
 */
describe('identity: password reset code delivery', () => {
  const h = new RestartingHarness();
  let store: ResetStore;

  beforeAll(async () => {
    await h.start({
      identityEnv: {
        IDENTITY_OTP_TIMEOUT: '1s',
        IDENTITY_RESET_SEND_RETRY: '500ms',
        IDENTITY_RESET_SEND_ATTEMPTS: '10',
        IDENTITY_RESET_SWEEP_INTERVAL: '200ms',
      },
    });
    store = new ResetStore(h.app.get<Redis>(IDENTITY_REDIS));
  }, 120_000);

  afterAll(() => h.close(), 60_000);

  /** The code of the latest message to `to` since `since`, waiting up to `timeoutMs` (an otp restart is slow). */
  async function codeTo(to: string, since: number, timeoutMs: number): Promise<string> {
    const sent = await h.tap.waitFor(
      (t) =>
        t.data['to'] === to &&
        typeof (t.data['variables'] as { code?: unknown } | undefined)?.code === 'string',
      since,
      timeoutMs,
    );
    return h.keep(String((sent.data['variables'] as { code: string }).code));
  }

  it('a reset accepted while the otp service is down gets its code once the otp service is back', async () => {
    const a = await h.account();
    await h.killOtp();
    const since = Date.now();
    const requested = await h.call('POST', '/v1/password-resets', { email: a.email });
    // The same quick 202 as ever (S6): the send happens after the answer.
    expect(requested.status).toBe(202);
    expect(Object.keys(requested.body)).toEqual(['resetId']);
    expect(Date.now() - since).toBeLessThan(h.config.IDENTITY_OTP_TIMEOUT);

    // Tries fail while the otp service is down; a code typed meanwhile is told to wait.
    await sleep(2_000);
    const url = `/v1/password-resets/${requested.body.resetId}/complete`;
    const early = await h.call('POST', url, { code: '123456', newPassword: h.password() });
    expect(early.status).toBe(503);
    expect(early.body.code).toBe('service_unavailable');
    expect(Number(early.headers.get('retry-after'))).toBeGreaterThan(0);

    await h.restartOtp({});
    const code = await codeTo(a.email, since, 30_000);
    const newPassword = h.password();
    expect((await h.call('POST', url, { code, newPassword })).status).toBe(200);
    const signedIn = await h.call('POST', '/v1/sessions', {
      email: a.email,
      password: newPassword,
      device: { id: 'd1', ip: '10.8.0.1' },
    });
    expect(signedIn.status).toBe(201);
  });

  it('a reset left by a process that stopped before sending is sent by a sweep', async () => {
    const a = await h.account();
    const resetId = '5b1e8a52-0d1f-4c1e-9a7e-3c2f6d0b1a01';
    const now = Date.now();
    const record: ResetRecord = {
      accountId: a.id,
      state: 'sending',
      challengeId: null,
      sendAttempts: 0,
      decoyAttempts: 0,
      codeExpiresAt: now + h.config.IDENTITY_RESET_TTL,
    };
    // What request() stores before the answer, held by a process that then stopped: its lease ends in 300 ms.
    await store.accept(resetId, record, h.config.IDENTITY_RESET_TTL, now + 300);
    const code = await codeTo(a.email, now, 15_000);
    const newPassword = h.password();
    const done = await h.call('POST', `/v1/password-resets/${resetId}/complete`, {
      code,
      newPassword,
    });
    expect(done.status).toBe(200);
    expect(await store.sendDueAt(resetId)).toBeUndefined();
  });

  it('a due send is taken by one sweeper at a time, for a lease', async () => {
    const id = '5b1e8a52-0d1f-4c1e-9a7e-3c2f6d0b1a02';
    const now = Date.now() + 60_000; // past any real send this test's service may sweep meanwhile
    await store.reschedule(id, now - 1);
    const claims = await Promise.all(Array.from({ length: 10 }, () => store.claim(now, 5_000, 50)));
    expect(claims.filter((ids) => ids.includes(id))).toHaveLength(1);
    expect(await store.claim(now + 4_999, 5_000, 50)).not.toContain(id);
    expect(await store.claim(now + 5_000, 5_000, 50)).toContain(id);
    await store.settle(id);
    expect(await store.sendDueAt(id)).toBeUndefined();
  });

  it('never logs a full number, a code, a password or a token', () => {
    expect(h.leaks()).toEqual([]);
  });
});
