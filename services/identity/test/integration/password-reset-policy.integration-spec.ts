import { eventually } from '@phonegate/platform/testing';
import type { Redis } from 'ioredis';
import { ResetStore } from '../../src/password-resets/reset.store';
import { IDENTITY_REDIS } from '../../src/tokens';
import { Harness, type HttpAnswer, sleep } from './support/harness';

jest.setTimeout(120_000);

/**
 * S6 whatever the operator configures: the otp service's reset codes live 30 s and take 3 wrong
 * codes, while identity keeps its own defaults (IDENTITY_RESET_TTL 10 min, OTP_MAX_ATTEMPTS 5).
 * A real reset ends and locks by the otp service's numbers; a decoy must too. Real PostgreSQL,
 * Redis, RabbitMQ and the otp service as a process.
 */
describe('identity: a decoy reset follows the otp service’s reset settings', () => {
  const h = new Harness();

  beforeAll(async () => {
    await h.start({
      otpEnv: { OTP_RESET_TTL: '30s', OTP_MAX_ATTEMPTS: '3' },
      identityEnv: { IDENTITY_OTP_TIMEOUT: '1s' },
    });
  }, 120_000);

  afterAll(() => h.close(), 60_000);

  const complete = (resetId: string, code: string) =>
    h.call('POST', `/v1/password-resets/${resetId}/complete`, { code, newPassword: h.password() });

  /** What a caller sees of an answer, but for the detail wording and the request id. */
  const seen = (res: HttpAnswer) => ({
    status: res.status,
    code: res.body?.code as unknown,
    attemptsRemaining: res.body?.attemptsRemaining as unknown,
    keys: Object.keys(res.body ?? {}).sort(),
    retryAfter: res.headers.has('retry-after'),
  });

  /** A real reset (a fresh account, code by e-mail) and a decoy, asked together; once the code is out. */
  async function pair(): Promise<{ real: string; decoy: string; code: string }> {
    const a = await h.account();
    const since = Date.now();
    const [real, decoy] = await Promise.all([
      h.call('POST', '/v1/password-resets', { email: a.email }),
      h.call('POST', '/v1/password-resets', { email: h.email() }),
    ]);
    for (const res of [real, decoy]) {
      expect(res.status).toBe(202);
      expect(Object.keys(res.body)).toEqual(['resetId']);
    }
    const code = await h.codeTo(a.email, since);
    return { real: real.body.resetId, decoy: decoy.body.resetId, code };
  }

  /** Wrong codes on both at once: the answers as seen, real first. */
  async function wrongOnBoth(p: { real: string; decoy: string; code: string }) {
    const wrong = p.code === '000000' ? '111111' : '000000';
    const [real, decoy] = await Promise.all([complete(p.real, wrong), complete(p.decoy, wrong)]);
    return { real, decoy };
  }

  it('knows the otp service’s settings from the start, before any reset code was sent: a lone decoy locks and ends by them', async () => {
    const store = new ResetStore(h.app.get<Redis>(IDENTITY_REDIS));
    // Asked of the otp service (otp.code_policy.get) at start, kept for every instance.
    await eventually(async () => (await store.policy())?.ttlMs === 30_000 || undefined, 15_000);
    expect(await store.policy()).toEqual({ ttlMs: 30_000, maxAttempts: 3 });
    expect(h.tap.of('notification.requested.v1')).toEqual([]);

    const decoy = await h.call('POST', '/v1/password-resets', { email: h.email() });
    const answers: HttpAnswer[] = [];
    for (let i = 0; i < 3; i++) answers.push(await complete(decoy.body.resetId, '000000'));
    expect(answers.map((a) => `${a.status} ${a.body.attemptsRemaining}`)).toEqual([
      '422 2',
      '422 1',
      '429 0',
    ]);
    const retryAfter = answers[2]!.headers.get('retry-after');
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeLessThanOrEqual(30);
  });

  it('a real reset and a decoy take the same wrong codes, lock with the same Retry-After and end at the same time', async () => {
    const locked = await pair();
    const open = await pair();

    const answers: { real: HttpAnswer; decoy: HttpAnswer }[] = [];
    for (let i = 0; i < 3; i++) answers.push(await wrongOnBoth(locked));
    for (const { real, decoy } of answers) expect(seen(decoy)).toEqual(seen(real));
    expect(answers.map(({ real }) => `${real.status} ${real.body.attemptsRemaining}`)).toEqual([
      '422 2',
      '422 1',
      '429 0',
    ]);
    // Locked until the reset ends: the otp service's 30 s, not identity's 10 minutes.
    const last = answers[2]!;
    const retryAfter = Number(last.real.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(last.decoy.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(
      Math.abs(Number(last.decoy.headers.get('retry-after')) - retryAfter),
    ).toBeLessThanOrEqual(1);
    const endsAt = Date.now() + retryAfter * 1000;

    const first = await wrongOnBoth(open);
    expect(seen(first.decoy)).toEqual(seen(first.real));
    expect(first.real.body).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 2 });

    // Shortly before the end both still take a code; shortly after, both have ended.
    await sleep(Math.max(0, endsAt - Date.now() - 3_000));
    const before = await wrongOnBoth(open);
    expect(seen(before.decoy)).toEqual(seen(before.real));
    expect(before.real.body).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 1 });

    await sleep(Math.max(0, endsAt - Date.now() + 2_000));
    for (const p of [locked, open]) {
      const after = await wrongOnBoth(p);
      expect(seen(after.real)).toMatchObject({ status: 410, code: 'code_expired' });
      expect(seen(after.decoy)).toEqual(seen(after.real));
    }
  });

  it("keeps the otp service's settings for every instance, and says where identity's own differ", async () => {
    const store = new ResetStore(h.app.get<Redis>(IDENTITY_REDIS));
    expect(await store.policy()).toEqual({ ttlMs: 30_000, maxAttempts: 3 });
    const line = h.logs
      .text()
      .split('\n')
      .find((l) => l.includes("identity's reset settings differ"));
    expect(line).toBeDefined();
    for (const name of ['IDENTITY_RESET_TTL', 'OTP_RESET_TTL', 'OTP_MAX_ATTEMPTS'])
      expect(line).toContain(name);
  });

  it('ignores a stored policy outside what otp allows (stale or tampered): no policy until otp answers again', async () => {
    const redis = h.app.get<Redis>(IDENTITY_REDIS);
    const store = new ResetStore(redis);
    const good = await store.policy();
    expect(good).toEqual({ ttlMs: 30_000, maxAttempts: 3 });
    try {
      for (const bad of [
        { ttlMs: 0, maxAttempts: 3 },
        { ttlMs: 30_000, maxAttempts: 0 },
        { ttlMs: 90_000_000, maxAttempts: 3 },
        { ttlMs: 30_000, maxAttempts: 11 },
        { ttlMs: 30_000.5, maxAttempts: 3 },
      ]) {
        await redis.set('reset-policy', JSON.stringify(bad));
        expect(await store.policy()).toBeUndefined();
      }
    } finally {
      await store.savePolicy(good!);
    }
    expect(await store.policy()).toEqual(good);
  });

  it('never logs a full number, a code, a password or a token', () => {
    expect(h.leaks()).toEqual([]);
  });
});
