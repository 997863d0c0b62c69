import type { Redis } from 'ioredis';
import type { OtpGateway } from '../../src/otp/otp.gateway';
import { IDENTITY_REDIS, OTP_GATEWAY } from '../../src/tokens';
import { Harness, type HttpAnswer, sleep } from './support/harness';

jest.setTimeout(60_000);

/**
 * While a pending number is corrected from X to Y, its row holds Y (without a challenge) from
 * the moment the correction takes the account's lock until Y's code is out; a refused send puts
 * it back on X. Meanwhile X belongs to no row. Each test pauses the correction right there (its
 * first otp read of X's challenge, after the row moved) and adds X again. otp's first resend
 * cooldown is 3 s here, so that "inside the cooldown" holds however slow the machine is.
 */
describe('identity: adding the number a correction is moving away from', () => {
  const h = new Harness();
  let gateway: OtpGateway;

  beforeAll(async () => {
    await h.start({ otpEnv: { OTP_RESEND_COOLDOWN: '3s' } });
    gateway = h.app.get<OtpGateway>(OTP_GATEWAY);
  }, 120_000);

  afterAll(() => h.close(), 60_000);

  /** Holds the next otp read of `challengeId` (after otp answered it) until `release`. */
  function pauseRead(challengeId: string) {
    let reach!: () => void;
    let free!: () => void;
    const reached = new Promise<void>((r) => (reach = r));
    const released = new Promise<void>((r) => (free = r));
    const real = gateway.get.bind(gateway);
    let armed = true;
    (gateway as unknown as Record<string, unknown>)['get'] = async (id: string) => {
      const answer = await real(id);
      if (armed && id === challengeId) {
        armed = false;
        reach();
        await released;
      }
      return answer;
    };
    return {
      reached,
      release: () => {
        (gateway as unknown as Record<string, unknown>)['get'] = real;
        free();
      },
    };
  }

  const phonesOf = async (accountId: string) =>
    (await h.call('GET', `/v1/accounts/${accountId}`)).body.phones as { phoneId: string; number: string; status: string }[];

  /** Verification codes sent to a number since a moment (once what otp published reached the tap). */
  const codesTo = async (to: string, since: number) => {
    await sleep(1_000);
    return h.tap.of('notification.requested.v1').filter((t) => t.data['to'] === to && t.at >= since && String(t.data['template']).startsWith('otp.')).length;
  };

  const until = (iso: string) => sleep(Math.max(0, Date.parse(iso) - Date.now()) + 100);

  /** An account with a pending number X (one code sent, at `since`). */
  async function pendingX() {
    const a = await h.account();
    const x = h.phone();
    const since = Date.now();
    const added = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: x });
    expect(added.status).toBe(202);
    return { a, x, since, phoneId: String(added.body.phoneId), challengeId: String(added.body.verification.challengeId), resendAt: String(added.body.verification.resendAvailableAt) };
  }

  /**
   * Gives the account a send history on Y inside its cooldown (Y added, then removed): a
   * correction to Y is refused 429 resend_cooldown, however long it was held.
   */
  async function refusedTarget(accountId: string): Promise<string> {
    const y = h.phone();
    const added = await h.call('POST', `/v1/accounts/${accountId}/phones`, { number: y });
    expect(added.status).toBe(202);
    expect((await h.call('DELETE', `/v1/accounts/${accountId}/phones/${added.body.phoneId}`)).status).toBe(204);
    return y;
  }

  it("an add of X as after a crash of the correction (its send claim lapsed) is bounded by X's codes (C9): 429 resend_cooldown inside X's cooldown, no second code", async () => {
    const { a, x, since, phoneId, challengeId } = await pendingX();
    const y = h.phone();
    const paused = pauseRead(challengeId);
    let changing: Promise<HttpAnswer> | undefined;
    let again: HttpAnswer | undefined;
    try {
      changing = h.call('PUT', `/v1/accounts/${a.id}/phones/${phoneId}`, { number: y });
      await paused.reached; // the row holds Y now; Y's code is not sent yet
      // The correction's claim lapses, as when its process died here.
      await h.app.get<Redis>(IDENTITY_REDIS).del(`phone-sends:claim:send:${phoneId}`);
      again = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: x });
    } finally {
      paused.release();
    }
    expect([again.status, again.body.code]).toEqual([429, 'resend_cooldown']);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
    const changed = await changing;
    // The correction itself is a send inside X's cooldown too: refused, the row back on X.
    expect([changed.status, changed.body.code]).toEqual([429, 'resend_cooldown']);
    expect(await phonesOf(a.id)).toEqual([expect.objectContaining({ phoneId, number: x, status: 'pending' })]);
    expect(await codesTo(x, since)).toBe(1);
    expect(await codesTo(y, since)).toBe(0);
    const code = await h.codeFor(challengeId);
    expect((await h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/verify`, { code })).status).toBe(200);
  });

  it('an add of X while the correction\'s code goes out waits for it; the correction refused puts its row back on X and the add is a resend of it: one row of X, no phone slot lost', async () => {
    const { a, x, since, phoneId, challengeId, resendAt } = await pendingX();
    const y = await refusedTarget(a.id);
    const paused = pauseRead(challengeId);
    let changing: Promise<HttpAnswer> | undefined;
    let adding: Promise<HttpAnswer> | undefined;
    let addedEarly = false;
    try {
      changing = h.call('PUT', `/v1/accounts/${a.id}/phones/${phoneId}`, { number: y });
      await paused.reached;
      await until(resendAt); // X may take another code now
      adding = h.call('POST', `/v1/accounts/${a.id}/phones`, { number: x });
      void adding.then(() => (addedEarly = true));
      await sleep(500);
      expect(addedEarly).toBe(false); // it waits for the correction
    } finally {
      paused.release();
    }
    const [changed, added] = await Promise.all([changing, adding]);
    expect([changed.status, changed.body.code]).toEqual([429, 'resend_cooldown']);
    expect(added.status).toBe(202);
    expect(added.body.phoneId).toBe(phoneId);
    expect(await phonesOf(a.id)).toEqual([expect.objectContaining({ phoneId, number: x, status: 'pending' })]);
    expect(await codesTo(x, since)).toBe(2);
    const code = await h.codeFor(String(added.body.verification.challengeId));
    expect((await h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/verify`, { code })).status).toBe(200);
    expect((await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: h.phone() })).status).toBe(202);
  });

  it('a correction refused after X was added again on another row (its claim lapsed) is not put back on X: its row goes, the new row of X verifies and the second slot stays free', async () => {
    const { a, x, phoneId, challengeId, resendAt } = await pendingX();
    const y = await refusedTarget(a.id);
    const paused = pauseRead(challengeId);
    let changing: Promise<HttpAnswer> | undefined;
    let again: HttpAnswer | undefined;
    try {
      changing = h.call('PUT', `/v1/accounts/${a.id}/phones/${phoneId}`, { number: y });
      await paused.reached;
      await h.app.get<Redis>(IDENTITY_REDIS).del(`phone-sends:claim:send:${phoneId}`);
      await until(resendAt);
      again = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: x });
    } finally {
      paused.release();
    }
    expect(again.status).toBe(202);
    const other = String(again.body.phoneId);
    expect(other).not.toBe(phoneId);
    const changed = await changing;
    expect([changed.status, changed.body.code]).toEqual([429, 'resend_cooldown']);
    expect(await phonesOf(a.id)).toEqual([expect.objectContaining({ phoneId: other, number: x, status: 'pending' })]);
    expect((await h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/resend`, {})).status).toBe(404);
    const code = await h.codeFor(String(again.body.verification.challengeId));
    const verified = await h.call('POST', `/v1/accounts/${a.id}/phones/${other}/verify`, { code });
    expect(verified.status).toBe(200);
    expect((await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: h.phone() })).status).toBe(202);
  });

  it('never logs a full number, a code, a password or a token', () => {
    expect(h.secrets.size).toBeGreaterThan(5);
    expect(h.leaks()).toEqual([]);
  });
});
