import { DomainError } from '@phonegate/platform';
import type { Redis } from 'ioredis';
import type { OtpGateway } from '../../src/otp/otp.gateway';
import { PasswordResetService } from '../../src/password-resets/password-reset.service';
import { type ResetRecord, ResetStore } from '../../src/password-resets/reset.store';
import { IDENTITY_REDIS, OTP_GATEWAY } from '../../src/tokens';
import { eventually } from '@phonegate/platform/testing';
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
 * process that accepted it stopped first. A decoy goes the same way and
 * answers the same (S6). Real PostgreSQL, Redis, RabbitMQ and the otp service
 * as a process.
 */
describe('identity: password reset code delivery', () => {
  const h = new RestartingHarness();
  let store: ResetStore;
  /** One value for both services (not the default 5, so that it shows). */
  const otpEnv = { OTP_MAX_ATTEMPTS: '3' };

  beforeAll(async () => {
    await h.start({
      otpEnv,
      identityEnv: {
        ...otpEnv,
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

  const complete = (resetId: string, code: string, newPassword = h.password()) =>
    h.call('POST', `/v1/password-resets/${resetId}/complete`, { code, newPassword });

  it('a reset accepted while the otp service is down gets its code once the otp service is back', async () => {
    const a = await h.account();
    await h.killOtp();
    const since = Date.now();
    const requested = await h.call('POST', '/v1/password-resets', { email: a.email });
    const decoy = await h.call('POST', '/v1/password-resets', { email: h.email() });
    // The same quick 202 as ever (S6): the send happens after the answer.
    for (const res of [requested, decoy]) {
      expect(res.status).toBe(202);
      expect(Object.keys(res.body)).toEqual(['resetId']);
    }
    expect(Date.now() - since).toBeLessThan(h.config.IDENTITY_OTP_TIMEOUT);

    // Tries fail while the otp service is down; a code typed meanwhile is told to wait, decoy or not.
    await sleep(2_000);
    for (const res of [requested, decoy]) {
      const early = await complete(res.body.resetId, '123456');
      expect(early.status).toBe(503);
      expect(early.body.code).toBe('service_unavailable');
      expect(Number(early.headers.get('retry-after'))).toBeGreaterThan(0);
    }

    await h.restartOtp(otpEnv);
    // The code of the try that got through (a try the otp service answered too late may have sent one too).
    const challengeId = await eventually(async () => {
      const record = await store.get(requested.body.resetId);
      return record?.state === 'sent' ? record.challengeId : undefined;
    }, 30_000);
    const code = await h.codeFor(challengeId);
    const newPassword = h.password();
    expect((await complete(requested.body.resetId, code, newPassword)).status).toBe(200);
    // The decoy's 503 cost no attempt, as the real one's did not.
    const wrong = await complete(decoy.body.resetId, '123456');
    expect(wrong.body).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 2 });
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
      codeExpiresAt: now + h.config.IDENTITY_RESET_TTL,
      settlesAt: now,
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

  it('a store error while recording a send that went out is not a failed send: no second code, the first one works', async () => {
    const a = await h.account();
    // The service's own reset store fails once, right after the code went out.
    const resets = h.app.get(PasswordResetService)['resets'];
    const replaceUntil = resets.replaceUntil.bind(resets);
    let failed = 0;
    const spy = jest
      .spyOn(resets, 'replaceUntil')
      .mockImplementation(async (id, record, untilMs, nowMs) => {
        if (record.state === 'sent' && failed++ === 0) throw new Error('Connection is closed.');
        return replaceUntil(id, record, untilMs, nowMs);
      });
    try {
      const since = Date.now();
      const requested = await h.call('POST', '/v1/password-resets', { email: a.email });
      expect(requested.status).toBe(202);
      const code = await codeTo(a.email, since, 10_000);
      await eventually(
        async () => (await store.get(requested.body.resetId))?.state === 'sent',
        10_000,
      );
      expect(failed).toBeGreaterThan(0);
      // Past the retry delay: no second code was sent.
      await sleep(1_500);
      const codes = h.tap.messages.filter(
        (t) =>
          t.at >= since &&
          t.data['to'] === a.email &&
          typeof (t.data['variables'] as { code?: unknown } | undefined)?.code === 'string',
      );
      expect(codes).toHaveLength(1);
      expect((await complete(requested.body.resetId, code)).status).toBe(200);
    } finally {
      spy.mockRestore();
    }
  });

  it("a reset whose code its owner reported while identity's send was still unanswered ends: its retry sends no second code, its completion is 410", async () => {
    const a = await h.account();
    const gateway = h.app.get<OtpGateway>(OTP_GATEWAY);
    const real = gateway.start.bind(gateway);
    let firstId = '';
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const held = new Promise<void>((r) => (reached = r));
    // The first try's code goes out, but its answer is lost (identity's call "times out").
    const spy = jest.spyOn(gateway, 'start').mockImplementation(async (request) => {
      const view = await real(request);
      if (request.purpose === 'password_reset' && request.to === a.email && !firstId) {
        firstId = view.id;
        reached();
        await released;
        throw new DomainError('service_unavailable', 'The otp service did not answer in time.', { retryAfter: 1 });
      }
      return view;
    });
    const since = Date.now();
    let resetId = '';
    try {
      const requested = await h.call('POST', '/v1/password-resets', { email: a.email });
      expect(requested.status).toBe(202);
      resetId = String(requested.body.resetId);
      await held;
      const code = await codeTo(a.email, since, 10_000);
      // "I didn't ask for this" on the code that went out.
      expect((await h.reportCode(firstId)).body).toMatchObject({ status: 'reported' });
      release();
      // Past the retry delay (500 ms) and a few sweeps.
      await eventually(async () => ((await store.sendDueAt(resetId)) === undefined ? true : undefined), 10_000, 100);
      await sleep(1_000);
      const codes = h.tap.messages.filter(
        (t) => t.at >= since && t.data['to'] === a.email && typeof (t.data['variables'] as { code?: unknown } | undefined)?.code === 'string',
      );
      expect(codes.length).toBe(1);
      const done = await complete(resetId, code);
      expect([done.status, done.body.code]).toEqual([410, 'code_expired']);
    } finally {
      release();
      spy.mockRestore();
    }
    // The password did not change.
    const signedIn = await h.call('POST', '/v1/sessions', { email: a.email, password: a.password, device: { id: 'dev-reported-reset', name: 'Test phone', ip: '10.9.9.9' } });
    expect(signedIn.status).toBe(201);
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

  describe('a decoy answers like a real reset (S6)', () => {
    /** What a person or a script sees of an answer. */
    const seen = (res: { status: number; body: { code?: string; attemptsRemaining?: number } }) =>
      `${res.status} ${res.body.code} ${res.body.attemptsRemaining}`;

    it('10 parallel wrong codes: the same answers, counted against the one attempt limit', async () => {
      const a = await h.account();
      const since = Date.now();
      const real = await h.call('POST', '/v1/password-resets', { email: a.email });
      const decoy = await h.call('POST', '/v1/password-resets', { email: h.email() });
      const code = await codeTo(a.email, since, 10_000);
      const wrong = code === '000000' ? '111111' : '000000';
      const answers = await Promise.all(
        [real, decoy].map((r) =>
          Promise.all(Array.from({ length: 10 }, () => complete(r.body.resetId, wrong))),
        ),
      );
      const [fromReal, fromDecoy] = answers.map((list) => list.map(seen).sort());
      expect(fromReal).toEqual([
        '422 code_mismatch 1',
        '422 code_mismatch 2',
        ...Array.from({ length: 8 }, () => '429 too_many_attempts 0'),
      ]);
      expect(fromDecoy).toEqual(fromReal);
      // The same Retry-After too: the reset's time left, whatever the channel's code life.
      const retryAfter = (list: { headers: Headers }[]) =>
        Math.max(...list.map((r) => Number(r.headers.get('retry-after') ?? 0)));
      expect(Math.abs(retryAfter(answers[0]!) - retryAfter(answers[1]!))).toBeLessThanOrEqual(2);
    });

    it('a code typed right after the request waits as long on a decoy as on a real reset', async () => {
      const a = await h.account();
      const settle = h.config.IDENTITY_OTP_TIMEOUT + 500;
      const took: number[] = [];
      for (const email of [a.email, h.email()]) {
        const requested = await h.call('POST', '/v1/password-resets', { email });
        const started = Date.now();
        const res = await complete(requested.body.resetId, '000001');
        took.push(Date.now() - started);
        expect(res.status).toBe(422);
      }
      for (const ms of took) expect(ms).toBeGreaterThanOrEqual(settle - 200);
    });
  });

  it('never logs a full number, a code, a password or a token', () => {
    expect(h.leaks()).toEqual([]);
  });
});
