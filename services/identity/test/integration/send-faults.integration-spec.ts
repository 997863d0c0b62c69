import type { Redis } from 'ioredis';
import { JsonStore } from '../../src/shared/json-store';
import { IDENTITY_REDIS } from '../../src/tokens';
import { Harness, type HttpAnswer, sleep, type Tapped } from './support/harness';

jest.setTimeout(60_000);

/** otp's resend cooldown in this file (steady: short enough to wait out, long enough not to race). */
const COOLDOWN_MS = 400;

/**
 * What a send does when Redis fails around it (R1: an outage never gives a pass) and
 * how a send's claim is given back (C9). A verification's record not kept after a code
 * went out still bounds the next PUT by the challenge the row holds; an answered error
 * (503) gives the claim back at once, so the client's retry after Retry-After is not held
 * until the claim lapses; a sign-in's codes stay within 5 on the resends of a challenge
 * its resend started. Over HTTP against identity, with real PostgreSQL, Redis, RabbitMQ
 * and the otp service as a process; a Redis failure is injected into identity's real
 * client (one command refused once).
 */
describe('identity: sends under Redis faults, and the send claim', () => {
  const h = new Harness();
  let redis: Redis;
  let seq = 1;

  beforeAll(async () => {
    // otp's per-number limit above the sign-in's own 5 codes, so that identity's bound is the one seen.
    await h.start({
      otpEnv: { OTP_RESEND_COOLDOWN: `${COOLDOWN_MS}ms`, OTP_RESEND_COOLDOWN_MAX: `${COOLDOWN_MS}ms`, OTP_LIMIT_DESTINATION: '100/15m' },
    });
    redis = h.app.get<Redis>(IDENTITY_REDIS);
  }, 120_000);

  afterAll(() => h.close(), 60_000);

  /** Makes identity's next `command` on a key `matches` accepts (the key without the client's prefix) fail once. */
  function failOnce(command: 'get' | 'set', matches: (key: string) => boolean): { fired: () => boolean } {
    const client = redis as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const original = client[command]!;
    let fired = false;
    client[command] = function (this: unknown, ...args: unknown[]) {
      if (!fired && typeof args[0] === 'string' && matches(args[0])) {
        fired = true;
        delete client[command];
        return Promise.reject(new Error('injected Redis failure'));
      }
      return original.apply(redis, args);
    };
    return { fired: () => fired };
  }

  const isRecord = (key: string) => key.startsWith('phone-sends:') && !key.startsWith('phone-sends:claim:');

  const phonesUrl = (accountId: string) => `/v1/accounts/${accountId}/phones`;

  const codesSent = (since: number, to?: string): Tapped[] =>
    h.tap
      .of('notification.requested.v1')
      .filter((t) => t.at >= since && typeof (t.data['variables'] as { code?: unknown } | undefined)?.code === 'string' && (!to || t.data['to'] === to));

  const untilResendable = (at: string) => sleep(Math.max(0, Date.parse(at) - Date.now()) + 60);

  /** An account with a pending number whose first code went out, its cooldown passed. */
  async function pendingNumber() {
    const a = await h.account();
    const added = await h.call('POST', phonesUrl(a.id), { number: h.phone() });
    expect(added.status).toBe(202);
    await h.codeFor(added.body.verification.challengeId);
    await untilResendable(added.body.verification.resendAvailableAt);
    return { a, url: `${phonesUrl(a.id)}/${added.body.phoneId}` };
  }

  function expectCooldown(answer: HttpAnswer) {
    expect({ status: answer.status, code: answer.body?.code }).toEqual({ status: 429, code: 'resend_cooldown' });
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  }

  it('a PUT whose record is not kept (Redis refuses the write) still bounds the next PUT: 429 resend_cooldown, nothing sent', async () => {
    const { url } = await pendingNumber();
    const [y, z, w] = [h.phone(), h.phone(), h.phone()];
    const toY = await h.call('PUT', url, { number: y });
    expect(toY.status).toBe(202);
    await untilResendable(toY.body.verification.resendAvailableAt);
    const fault = failOnce('set', isRecord);
    const toZ = await h.call('PUT', url, { number: z });
    expect(fault.fired()).toBe(true);
    // The code went out before the record failed: the PUT is answered.
    expect(toZ.status).toBe(202);
    await h.codeFor(toZ.body.verification.challengeId);
    expect(Date.parse(toZ.body.verification.resendAvailableAt)).toBeGreaterThan(Date.now() + 200);
    const since = Date.now();
    expectCooldown(await h.call('PUT', url, { number: w }));
    expectCooldown(await h.call('POST', `${url}/resend`, {}));
    await sleep(1_000);
    expect(codesSent(since)).toEqual([]);
  });

  it('a PUT answered 503 before anything was sent gives its claim back: the retry after Retry-After is answered at once and sends', async () => {
    const { url } = await pendingNumber();
    const y = h.phone();
    const fault = failOnce('get', isRecord);
    const failed = await h.call('PUT', url, { number: y });
    expect(fault.fired()).toBe(true);
    expect({ status: failed.status, code: failed.body?.code }).toEqual({ status: 503, code: 'service_unavailable' });
    await sleep(Number(failed.headers.get('retry-after')) * 1000);
    const since = Date.now();
    const retried = await h.call('PUT', url, { number: y });
    const tookMs = Date.now() - since;
    expect(retried.status).toBe(202);
    expect(tookMs).toBeLessThan(1_500);
    await h.codeFor(retried.body.verification.challengeId, since);
    expect(codesSent(since, y)).toHaveLength(1);
  });

  it('a send claim is its holder’s: a late finisher whose claim lapsed neither frees nor holds the next holder’s', async () => {
    const store = new JsonStore<unknown>(redis, 'phone-sends');
    const name = `send:claim-test-${seq++}`;
    const late = await store.claim(name, 100);
    expect(late).toEqual(expect.any(String));
    expect(await store.claim(name, 5_000)).toBeUndefined();
    await sleep(200);
    const next = await store.claim(name, 5_000);
    expect(next).toEqual(expect.any(String));
    await store.releaseClaim(name, late!);
    expect(await store.holdClaim(name, late!, 10)).toBe(false);
    expect(await store.claimedFor(name)).toBeGreaterThan(4_000);
    expect(await store.holdClaim(name, next!, 1_000)).toBe(true);
    expect(await store.claimedFor(name)).toBeLessThanOrEqual(1_000);
    await store.releaseClaim(name, next!);
    expect(await store.claimedFor(name)).toBe(0);
  });

  // --- sign-in ---

  const resendUrl = (loginId: string) => `/v1/sessions/${loginId}/resend`;

  const signInCodes = (since: number): Tapped[] => codesSent(since).filter((t) => t.data['template'] === 'otp.sign_in');

  /** A challenged sign-in (first code out) whose account's number then changed (a resend starts a new challenge). */
  async function signInAfterNumberChange() {
    const { started, next } = await h.signInThenNumberChange({ id: `dev-faults-${seq}`, name: 'Test phone', ip: `10.9.1.${seq++}` });
    await untilResendable(started.body.challenge.resendAvailableAt);
    return { loginId: String(started.body.loginId), next };
  }

  it('a sign-in resend answered 503 after its claim gives the claim back: the retry after Retry-After is answered at once', async () => {
    const { loginId, next } = await signInAfterNumberChange();
    // The resend reads the login twice: before and after it claims the move to a new challenge.
    let reads = 0;
    const fault = failOnce('get', (key) => key === `login:${loginId}` && ++reads === 2);
    const failed = await h.call('POST', resendUrl(loginId), {});
    expect(fault.fired()).toBe(true);
    expect({ status: failed.status, code: failed.body?.code }).toEqual({ status: 503, code: 'service_unavailable' });
    await sleep(Number(failed.headers.get('retry-after')) * 1000);
    const since = Date.now();
    const retried = await h.call('POST', resendUrl(loginId), {});
    const tookMs = Date.now() - since;
    expect(retried.status).toBe(202);
    expect(tookMs).toBeLessThan(1_500);
    const message = await h.tap.waitFor((t) => signInCodes(since).includes(t), since);
    expect(message.data['to']).toBe(next);
  });

  it('a sign-in sends at most 5 codes, counting the resends of the challenge a resend started', async () => {
    const { loginId } = await signInAfterNumberChange();
    const since = Date.now();
    // Code 1 went to the old number; the restart sends code 2, three resends codes 3–5.
    let last: HttpAnswer | undefined;
    for (let i = 0; i < 4; i++) {
      if (last) await untilResendable(last.body.challenge.resendAvailableAt);
      last = await h.call('POST', resendUrl(loginId), {});
      expect({ i, status: last.status, code: last.body?.code }).toEqual({ i, status: 202, code: undefined });
    }
    await untilResendable(last!.body.challenge.resendAvailableAt);
    const sixth = await h.call('POST', resendUrl(loginId), {});
    expect({ status: sixth.status, code: sixth.body?.code, detail: sixth.body?.detail }).toEqual({
      status: 429,
      code: 'rate_limited',
      detail: 'At most 5 codes are sent for one sign-in.',
    });
    await sleep(800);
    expect(signInCodes(since)).toHaveLength(4);
  });

  it('never logs a full number, a code, a password or a token', () => {
    expect(h.secrets.size).toBeGreaterThan(10);
    expect(h.leaks()).toEqual([]);
  });
});
