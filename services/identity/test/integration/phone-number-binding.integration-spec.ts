import { eventually } from '@phonegate/platform/testing';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import type { OtpGateway } from '../../src/otp/otp.gateway';
import { IDENTITY_REDIS, OTP_GATEWAY } from '../../src/tokens';
import { Harness, type HttpAnswer, sleep } from './support/harness';

jest.setTimeout(60_000);

/** A promise and its resolve, to pause one request at a chosen point while another runs. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

type GatewayMethod = 'start' | 'check' | 'resend';

/**
 * A code verifies only the number it was sent to. Each test pauses one request
 * right after its real otp call (over the bus, to the otp process) answered, lets
 * a change of the pending number commit meanwhile, then lets the first go on.
 */
describe('identity: a code verifies only the number it was sent to', () => {
  const h = new Harness();
  let gateway: OtpGateway;

  beforeAll(async () => {
    await h.start();
    gateway = h.app.get<OtpGateway>(OTP_GATEWAY);
  }, 120_000);

  afterAll(() => h.close(), 60_000);

  /**
   * Holds the next call of `method` that `matches`, after the otp service answered it,
   * until `release` is called. `reached` resolves when it is held.
   */
  function pauseAfter(
    method: GatewayMethod,
    matches: (request: Record<string, unknown>) => boolean = () => true,
  ) {
    const reached = deferred();
    const released = deferred();
    const real = gateway[method].bind(gateway) as (request: unknown) => Promise<unknown>;
    let armed = true;
    const restore = () => {
      (gateway as unknown as Record<string, unknown>)[method] = real;
      released.resolve();
    };
    (gateway as unknown as Record<string, unknown>)[method] = async (
      request: Record<string, unknown>,
    ) => {
      const answer = await real(request);
      if (armed && matches(request)) {
        armed = false;
        reached.resolve();
        await released.promise;
      }
      return answer;
    };
    return { reached: reached.promise, release: restore };
  }

  /**
   * Holds the account's row lock (the lock identity's writes of its numbers take) in a transaction
   * of the test until `release`; `waiters(n)` resolves once n statements of this test's database
   * wait for a lock.
   */
  async function holdAccountLock(accountId: string) {
    const db = h.app.get(DataSource);
    const runner = db.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    await runner.query('SELECT id FROM accounts WHERE id = $1 FOR UPDATE', [accountId]);
    return {
      waiters: (n: number) =>
        eventually(
          async () => {
            const rows = await db.query<{ n: number }[]>(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            );
            return (rows[0]?.n ?? 0) >= n ? true : undefined;
          },
          15_000,
          25,
        ),
      release: async () => {
        await runner.commitTransaction().catch(() => undefined);
        await runner.release();
      },
    };
  }

  /** Code messages to a number since a moment. */
  const sentTo = (to: string, since: number) =>
    h.tap.of('notification.requested.v1').filter((t) => t.data['to'] === to && t.at >= since);

  const phonesOf = async (accountId: string) =>
    (await h.call('GET', `/v1/accounts/${accountId}`)).body.phones as {
      phoneId: string;
      number: string;
      status: string;
    }[];

  /** An account with a pending number X (its code sent), and a number Y to change it to. */
  async function pendingNumber() {
    const a = await h.account();
    const [x, y] = [h.phone(), h.phone()];
    const added = await h.call('POST', `/v1/accounts/${a.id}/phones`, { number: x });
    expect(added.status).toBe(202);
    const challengeId = added.body.verification.challengeId as string;
    // A change sends a code, so it waits out the add's cooldown like a resend (C9).
    await sleep(Math.max(0, Date.parse(added.body.verification.resendAvailableAt as string) - Date.now()) + 50);
    return { a, x, y, phoneId: added.body.phoneId as string, challengeId };
  }

  it("path A: a number changed while the old number's code is being checked stays pending; its own code verifies it", async () => {
    const { a, y, phoneId, challengeId } = await pendingNumber();
    const xCode = await h.codeFor(challengeId);

    const paused = pauseAfter('check');
    let changed;
    let verifying;
    try {
      verifying = h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/verify`, { code: xCode });
      await paused.reached; // X's code was approved by otp; identity has not recorded anything yet
      changed = await h.call('PUT', `/v1/accounts/${a.id}/phones/${phoneId}`, { number: y });
      expect(changed.status).toBe(202);
    } finally {
      paused.release();
    }
    const verified = await verifying;
    expect(verified.status).toBe(410);
    expect(verified.body.code).toBe('code_expired');
    expect(await phonesOf(a.id)).toEqual([
      expect.objectContaining({ phoneId, number: y, status: 'pending' }),
    ]);

    const yCode = await h.codeFor(changed.body.verification.challengeId);
    const own = await h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/verify`, {
      code: yCode,
    });
    expect(own.status).toBe(200);
    expect(await phonesOf(a.id)).toEqual([
      expect.objectContaining({ phoneId, number: y, status: 'verified' }),
    ]);
  });

  it("path B: a resend that finishes after a change does not put the old number's challenge back; the old code does not verify the new number", async () => {
    const { a, y, phoneId, challengeId: xChallenge } = await pendingNumber();
    await sleep(1_100); // the resend cooldown (OTP_RESEND_COOLDOWN=1s)

    const since = Date.now();
    const paused = pauseAfter('resend');
    let changed;
    let resending;
    try {
      resending = h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/resend`, {});
      await paused.reached; // otp resent X's code; identity has not recorded the challenge yet
      // The resend's claim on the number's sends lapses (as when otp answers slower than it is
      // held), and the resend's cooldown (2 s after the second code) passes: a change may go out.
      await h.app.get<Redis>(IDENTITY_REDIS).del(`phone-sends:claim:send:${phoneId}`);
      await sleep(2_100);
      changed = await h.call('PUT', `/v1/accounts/${a.id}/phones/${phoneId}`, { number: y });
      expect(changed.status).toBe(202);
    } finally {
      paused.release();
    }
    const resent = await resending;

    const xCode = await h.codeFor(xChallenge, since);
    const yCode = await h.codeFor(changed.body.verification.challengeId);
    if (xCode !== yCode) {
      const wrong = await h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/verify`, {
        code: xCode,
      });
      expect(wrong.status).toBe(422);
      expect(wrong.body.code).toBe('code_mismatch');
    }
    expect(await phonesOf(a.id)).toEqual([
      expect.objectContaining({ phoneId, number: y, status: 'pending' }),
    ]);
    // The resend's answer: the number it was for is no longer this phone's.
    expect(resent.status).toBe(409);
    expect(resent.body.code).toBe('conflict');
    const own = await h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/verify`, {
      code: yCode,
    });
    expect(own.status).toBe(200);
  });

  it("a change of a pending number while its add's code goes out waits for that add, then is bounded like a resend: the first number and its code stand", async () => {
    const a = await h.account();
    const [x, y] = [h.phone(), h.phone()];
    const paused = pauseAfter('start', (r) => r['to'] === x);
    let changing: Promise<HttpAnswer> | undefined;
    let adding: Promise<HttpAnswer> | undefined;
    let phoneId = '';
    let changedEarly = false;
    try {
      adding = h.call('POST', `/v1/accounts/${a.id}/phones`, { number: x });
      await paused.reached; // X's code is out; its challenge is not recorded on the row yet
      phoneId = (await phonesOf(a.id))[0]!.phoneId;
      changing = h.call('PUT', `/v1/accounts/${a.id}/phones/${phoneId}`, { number: y });
      void changing.then(() => (changedEarly = true));
      // The change waits for the add's send (the add holds the number's send claim).
      await sleep(300);
      expect(changedEarly).toBe(false);
    } finally {
      paused.release();
    }
    const added = await adding;
    const changed = await changing;
    expect(added.status).toBe(202);
    // Then the change is a send to the same pending phone inside the code's cooldown (C9).
    expect(changed.status).toBe(429);
    expect(changed.body.code).toBe('resend_cooldown');
    expect(Number(changed.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await phonesOf(a.id)).toEqual([
      expect.objectContaining({ phoneId, number: x, status: 'pending' }),
    ]);
    expect(h.tap.of('notification.requested.v1').filter((t) => t.data['to'] === y)).toHaveLength(0);
    const xCode = await h.codeFor(added.body.verification.challengeId);
    expect(
      (await h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/verify`, { code: xCode }))
        .status,
    ).toBe(200);
  });

  it("a pending number's old code does not verify it while its change's code goes out: 410, the change stands (202) and the new code verifies it", async () => {
    const { a, y, phoneId, challengeId } = await pendingNumber();
    const xCode = await h.codeFor(challengeId);

    const paused = pauseAfter('start', (r) => r['to'] === y);
    let changing;
    try {
      changing = h.call('PUT', `/v1/accounts/${a.id}/phones/${phoneId}`, { number: y });
      await paused.reached; // Y's code is out; its challenge is not recorded on the row yet
      const verified = await h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/verify`, {
        code: xCode,
      });
      expect([verified.status, verified.body.code]).toEqual([410, 'code_expired']);
    } finally {
      paused.release();
    }
    const changed = await changing;
    expect(changed.status).toBe(202);
    expect(await phonesOf(a.id)).toEqual([
      expect.objectContaining({ phoneId, number: y, status: 'pending' }),
    ]);
    const yCode = await h.codeFor(changed.body.verification.challengeId);
    expect(
      (await h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/verify`, { code: yCode }))
        .status,
    ).toBe(200);
  });

  it('a change whose pending number is removed while its code goes out is not refused after its send: the removal waits for it (202, then 204)', async () => {
    const { a, y, phoneId } = await pendingNumber();
    const paused = pauseAfter('start', (r) => r['to'] === y);
    let changing: Promise<HttpAnswer> | undefined;
    let removing: Promise<HttpAnswer> | undefined;
    let removedEarly = false;
    try {
      changing = h.call('PUT', `/v1/accounts/${a.id}/phones/${phoneId}`, { number: y });
      await paused.reached; // Y's code is out; its challenge is not recorded on the row yet
      removing = h.call('DELETE', `/v1/accounts/${a.id}/phones/${phoneId}`);
      void removing.then(() => (removedEarly = true));
      await sleep(300);
      expect(removedEarly).toBe(false);
    } finally {
      paused.release();
    }
    const [changed, removed] = await Promise.all([changing, removing]);
    expect(changed.status).toBe(202);
    expect(removed.status).toBe(204);
    expect(await phonesOf(a.id)).toEqual([]);
  });

  it('a change of a pending number refused (409 conflict) because the number was verified first sends nothing to the new number', async () => {
    const { a, x, y, phoneId, challengeId } = await pendingNumber();
    const xCode = await h.codeFor(challengeId);
    const since = Date.now();
    const lock = await holdAccountLock(a.id);
    let verifying: Promise<HttpAnswer> | undefined;
    let changing: Promise<HttpAnswer> | undefined;
    try {
      verifying = h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/verify`, { code: xCode });
      await lock.waiters(1); // otp approved X's code; the verification waits to record it
      changing = h.call('PUT', `/v1/accounts/${a.id}/phones/${phoneId}`, { number: y });
      await lock.waiters(2); // the change waits behind it
    } finally {
      await lock.release();
    }
    const [verified, changed] = await Promise.all([verifying, changing]);
    expect(verified.status).toBe(200);
    expect([changed.status, changed.body.code]).toEqual([409, 'conflict']);
    expect(await phonesOf(a.id)).toEqual([
      expect.objectContaining({ phoneId, number: x, status: 'verified' }),
    ]);
    await sleep(1_000); // what otp published has reached the tap
    expect(sentTo(y, since).length).toBe(0);
  });

  it('a change of a verified number refused (409 phone_in_use) because another account verified the new number first sends nothing to it', async () => {
    const a = await h.account();
    const { phoneId } = await h.verifiedPhone(a.id);
    const stepUpId = await h.stepUp(a.id);
    const b = await h.account();
    const y = h.phone();
    const addedOnB = await h.call('POST', `/v1/accounts/${b.id}/phones`, { number: y });
    expect(addedOnB.status).toBe(202);
    const bCode = await h.codeFor(addedOnB.body.verification.challengeId);
    const since = Date.now();
    const lock = await holdAccountLock(a.id);
    let changing: Promise<HttpAnswer> | undefined;
    try {
      changing = h.call('PUT', `/v1/accounts/${a.id}/phones/${phoneId}`, { number: y, stepUpId });
      await lock.waiters(1); // the change waits for A's lock
      const onB = await h.call('POST', `/v1/accounts/${b.id}/phones/${addedOnB.body.phoneId}/verify`, { code: bCode });
      expect(onB.status).toBe(200);
    } finally {
      await lock.release();
    }
    const changed = await changing;
    expect([changed.status, changed.body.code]).toEqual([409, 'phone_in_use']);
    expect((await phonesOf(a.id)).map((p) => p.phoneId)).toEqual([phoneId]);
    await sleep(1_000);
    expect(sentTo(y, since).length).toBe(0);
  });

  it('a correction of a pending number refused (409 phone_in_use) because another account verified the new number while it waited for the lock sends nothing to it; the number and its code stand', async () => {
    const { a, x, y, phoneId, challengeId } = await pendingNumber();
    const b = await h.account();
    const addedOnB = await h.call('POST', `/v1/accounts/${b.id}/phones`, { number: y });
    expect(addedOnB.status).toBe(202);
    const bCode = await h.codeFor(addedOnB.body.verification.challengeId);
    const since = Date.now();
    const lock = await holdAccountLock(a.id);
    let changing: Promise<HttpAnswer> | undefined;
    try {
      // The change checked the new number (verified nowhere yet) and waits for A's lock.
      changing = h.call('PUT', `/v1/accounts/${a.id}/phones/${phoneId}`, { number: y });
      await lock.waiters(1);
      const onB = await h.call('POST', `/v1/accounts/${b.id}/phones/${addedOnB.body.phoneId}/verify`, { code: bCode });
      expect(onB.status).toBe(200);
    } finally {
      await lock.release();
    }
    const changed = await changing;
    expect([changed.status, changed.body.code]).toEqual([409, 'phone_in_use']);
    expect(await phonesOf(a.id)).toEqual([expect.objectContaining({ phoneId, number: x, status: 'pending' })]);
    await sleep(1_000); // what otp published has reached the tap
    expect(sentTo(y, since).length).toBe(0);
    // The pending number kept its challenge: its code verifies it.
    const xCode = await h.codeFor(challengeId);
    expect((await h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/verify`, { code: xCode })).status).toBe(200);
  });

  it("the otp service checks the number too (C6): a row pointing at the old number's challenge is not verified by its code", async () => {
    const { a, y, phoneId, challengeId } = await pendingNumber();
    const xCode = await h.codeFor(challengeId);
    expect(
      (await h.call('PUT', `/v1/accounts/${a.id}/phones/${phoneId}`, { number: y })).status,
    ).toBe(202);
    // The state path B used to leave: the new number with the old number's challenge.
    await h.app
      .get(DataSource)
      .query('UPDATE phones SET challenge_id = $2 WHERE id = $1', [phoneId, challengeId]);

    const res = await h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/verify`, {
      code: xCode,
    });
    expect(res.status).toBe(410);
    expect(await phonesOf(a.id)).toEqual([
      expect.objectContaining({ phoneId, number: y, status: 'pending' }),
    ]);
  });

  it('no otp request from identity (but a start\'s destination) and no otp.challenge.* event carries the full number (L1): the code is bound to it by a keyed hash', async () => {
    const calls: { method: GatewayMethod; request: Record<string, unknown> }[] = [];
    const restores = (['start', 'check', 'resend'] as const).map((method) => {
      const real = gateway[method].bind(gateway) as (request: unknown) => Promise<unknown>;
      (gateway as unknown as Record<string, unknown>)[method] = (request: Record<string, unknown>) => {
        calls.push({ method, request });
        return real(request);
      };
      return () => ((gateway as unknown as Record<string, unknown>)[method] = real);
    });
    let x = '';
    let y = '';
    let phoneId = '';
    let yChallenge = '';
    try {
      const pending = await pendingNumber();
      ({ x, y, phoneId } = pending);
      const xCode = await h.codeFor(pending.challengeId);
      const changed = await h.call('PUT', `/v1/accounts/${pending.a.id}/phones/${phoneId}`, { number: y });
      expect(changed.status).toBe(202);
      yChallenge = changed.body.verification.challengeId as string;
      const yCode = await h.codeFor(yChallenge);
      // The old number's code does not verify the new number; the new one's does.
      if (xCode !== yCode) expect((await h.call('POST', `/v1/accounts/${pending.a.id}/phones/${phoneId}/verify`, { code: xCode })).status).toBe(422);
      expect((await h.call('POST', `/v1/accounts/${pending.a.id}/phones/${phoneId}/verify`, { code: yCode })).status).toBe(200);
    } finally {
      for (const restore of restores) restore();
    }
    const national = (n: string) => n.slice(2);
    const starts = calls.filter((c) => c.method === 'start');
    expect(starts.map((c) => c.request['to'])).toEqual([x, y]);
    for (const { request } of calls) {
      const { to: _destination, ...rest } = request;
      expect(JSON.stringify(rest)).not.toContain(national(x));
      expect(JSON.stringify(rest)).not.toContain(national(y));
    }
    // A ref names the phone; the same number's ref in its start and its check.
    const refs = calls.map((c) => c.request['ref']).filter((r): r is string => typeof r === 'string');
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const ref of refs) expect(ref.startsWith(`${phoneId}|`)).toBe(true);
    expect(calls.find((c) => c.method === 'check' && c.request['challengeId'] === yChallenge)?.request['ref']).toBe(starts[1]!.request['ref']);

    await h.tap.waitFor((t) => t.envelope.type === 'otp.challenge.approved.v1' && t.data['challengeId'] === yChallenge);
    const events = h.tap.messages.filter((t) => t.envelope.type.startsWith('otp.challenge.') && (t.data['subject'] as { phoneId?: string } | undefined)?.phoneId === phoneId);
    expect(events.length).toBeGreaterThanOrEqual(3);
    for (const t of events) {
      for (const text of [JSON.stringify(t.envelope), JSON.stringify(t.data)]) {
        expect(text).not.toContain(national(x));
        expect(text).not.toContain(national(y));
      }
    }
  });

  it('never logs a full number, a code, a password or a token', () => {
    expect(h.secrets.size).toBeGreaterThan(10);
    expect(h.leaks()).toEqual([]);
  });
});
