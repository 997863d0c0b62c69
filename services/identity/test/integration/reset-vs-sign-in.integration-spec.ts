import { argon2id, hash } from 'argon2';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import type { OtpGateway } from '../../src/otp/otp.gateway';
import { OTP_GATEWAY } from '../../src/tokens';
import { Harness, type HttpAnswer, sleep } from './support/harness';

jest.setTimeout(240_000);

/**
 * A sign-in with the old password racing a password reset's completion (two-step off, or
 * from a remembered device): whatever the order, no session issued from the old password is
 * active once the reset answered 200 (API.md: completing a reset revokes every session and
 * remembered device). A sign-in checked against the old password that reaches the session
 * write after the reset committed answers 401 invalid_credentials, as a wrong password does.
 * Over HTTP against identity, with real PostgreSQL, Redis, RabbitMQ and the otp service.
 */
describe('identity: a password reset against sign-ins with the old password', () => {
  const h = new Harness();
  /** Holds the account's row lock; `watch` reads pg_stat_activity (a transaction sees one snapshot of it). */
  let pg: Client;
  let watch: Client;
  let ipSeq = 1;
  /** Addresses outside the country table: no sign-in here is a new location. */
  const ip = () => `10.9.${Math.floor(ipSeq / 250) % 250}.${ipSeq++ % 250}`;

  beforeAll(async () => {
    // Many resets and failed sign-ins from one test: the per-IP and per-account limits out of the way.
    await h.start({
      identityEnv: { IDENTITY_SIGNIN_MAX_FAILURES_PER_ACCOUNT: '100000' },
      // Challenged sign-ins in a loop send many codes to one number.
      otpEnv: { OTP_LIMIT_DESTINATION: '1000/15m', OTP_LIMIT_ACCOUNT: '1000/15m' },
    });
    pg = new Client({ connectionString: h.config.DATABASE_URL });
    watch = new Client({ connectionString: h.config.DATABASE_URL });
    await Promise.all([pg.connect(), watch.connect()]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([pg?.end().catch(() => undefined), watch?.end().catch(() => undefined)]);
    await h.close();
  }, 60_000);

  afterEach(() => expect(h.leaks()).toEqual([]));

  const signIn = (email: string, password: string, device: string) =>
    h.call('POST', '/v1/sessions', { email, password, device: { id: device, name: 'Race device', ip: ip() } });

  interface Prepared {
    id: string;
    email: string;
    password: string;
    resetId: string;
    code: string;
    newPassword: string;
  }

  /** An account with a verified number (two-step on by SMS with a remembered `device` when given) and a reset whose code came. */
  async function prepared(remembered?: string): Promise<Prepared> {
    const a = await h.account();
    const phone = await h.verifiedPhone(a.id);
    if (remembered) {
      await h.twoStep(a.id, { method: 'sms' });
      const started = await signIn(a.email, a.password, remembered);
      expect(started.status).toBe(202);
      const code = await h.codeFor(started.body.challenge.id);
      const verified = await h.call('POST', `/v1/sessions/${started.body.loginId}/verify`, { code, rememberDevice: true });
      expect(verified.status).toBe(201);
      // Remembered: the old password alone signs in there.
      expect((await signIn(a.email, a.password, remembered)).status).toBe(201);
    }
    const since = Date.now();
    const requested = await h.call('POST', '/v1/password-resets', { email: a.email });
    expect(requested.status).toBe(202);
    const code = await h.codeTo(phone.number, since);
    return { ...a, resetId: String(requested.body.resetId), code, newPassword: h.password() };
  }

  const complete = (p: Prepared) =>
    h.call('POST', `/v1/password-resets/${p.resetId}/complete`, { code: p.code, newPassword: p.newPassword });

  /** The sessions of answers 201 still active by GET /v1/sessions/:id. */
  async function activeOf(answers: HttpAnswer[]): Promise<string[]> {
    const active: string[] = [];
    for (const a of answers.filter((x) => x.status === 201)) {
      const got = await h.call('GET', `/v1/sessions/${a.body.sessionId}`);
      expect(got.status).toBe(200);
      if (got.body.active) active.push(String(a.body.sessionId));
    }
    return active;
  }

  /** The account's sessions that are not revoked in the table, and its remembered devices. */
  async function stored(accountId: string) {
    const db = h.app.get(DataSource);
    const open = await db.query<{ id: string }[]>('SELECT id FROM sessions WHERE account_id = $1 AND revoked_at IS NULL', [accountId]);
    const remembered = await db.query<{ device_id: string }[]>(
      'SELECT device_id FROM devices WHERE account_id = $1 AND remembered_until IS NOT NULL',
      [accountId],
    );
    return { unrevoked: open.map((r) => r.id), remembered: remembered.map((r) => r.device_id) };
  }

  /** The number of statements of this database waiting for an account's row lock (to lock or update it). */
  async function lockWaiters(): Promise<number> {
    const rows = await watch.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%accounts%'",
    );
    return rows.rows[0]?.n ?? 0;
  }

  async function waitForWaiters(n: number): Promise<void> {
    const until = Date.now() + 20_000;
    while ((await lockWaiters()) < n) {
      if (Date.now() > until) {
        const all = await watch.query('SELECT state, wait_event_type, wait_event, left(query, 120) AS q FROM pg_stat_activity WHERE datname = current_database()');
        throw new Error(`fewer than ${n} statements waited for the account's lock: ${JSON.stringify(all.rows)}`);
      }
      await sleep(10);
    }
  }

  /**
   * Holds the account's row lock (the one a reset's completion and a session's write take) while
   * `first` and then `second` queue behind it, then lets them go in that order.
   */
  async function inOrder<A, B>(accountId: string, first: () => Promise<A>, firstCount: number, second: () => Promise<B>, secondCount: number) {
    await pg.query('BEGIN');
    await pg.query('SELECT id FROM accounts WHERE id = $1 FOR UPDATE', [accountId]);
    let a: Promise<A> | undefined;
    let b: Promise<B> | undefined;
    try {
      a = first();
      await waitForWaiters(firstCount);
      b = second();
      await waitForWaiters(firstCount + secondCount);
    } finally {
      await pg.query('COMMIT');
    }
    return Promise.all([a, b]);
  }

  const SIGN_INS = 3;

  describe('sign-ins checked before the reset committed, written after it (two-step off)', () => {
    it('answer 401 invalid_credentials; no session of the old password is active', async () => {
      const p = await prepared();
      const [done, answers] = await inOrder(
        p.id,
        () => complete(p),
        1,
        () => Promise.all(Array.from({ length: SIGN_INS }, (_, i) => signIn(p.email, p.password, `late-${i}`))),
        SIGN_INS,
      );
      expect(done.status).toBe(200);
      expect(await activeOf(answers)).toEqual([]);
      expect(answers.map((a) => [a.status, String(a.body.code)])).toEqual(answers.map(() => [401, 'invalid_credentials']));
      expect((await stored(p.id)).unrevoked).toEqual([]);
      // The new password signs in; the old one stays refused.
      expect((await signIn(p.email, p.newPassword, 'after')).status).toBe(201);
      expect((await signIn(p.email, p.password, 'after')).status).toBe(401);
    });
  });

  describe('sign-ins written just before the reset took the account', () => {
    it('answer 201 and the reset revokes their sessions', async () => {
      const p = await prepared();
      const [answers, done] = await inOrder(
        p.id,
        () => Promise.all(Array.from({ length: SIGN_INS }, (_, i) => signIn(p.email, p.password, `early-${i}`))),
        SIGN_INS,
        () => complete(p),
        1,
      );
      expect(done.status).toBe(200);
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 201));
      expect(await activeOf(answers)).toEqual([]);
      // Revoked by the reset itself, not only older than its instant.
      expect((await stored(p.id)).unrevoked).toEqual([]);
    });
  });

  describe('a sign-in from a remembered device checked before the reset committed', () => {
    it('answers 401 invalid_credentials; no session, the device is not remembered', async () => {
      const p = await prepared('home');
      const [done, answers] = await inOrder(
        p.id,
        () => complete(p),
        1,
        () => Promise.all([signIn(p.email, p.password, 'home')]),
        1,
      );
      expect(done.status).toBe(200);
      expect(await activeOf(answers)).toEqual([]);
      expect(answers.map((a) => [a.status, String(a.body.code)])).toEqual([[401, 'invalid_credentials']]);
      expect(await stored(p.id)).toEqual({ unrevoked: [], remembered: [] });
      // The device is challenged again, with the new password.
      expect((await signIn(p.email, p.newPassword, 'home')).status).toBe(202);
    });
  });

  describe('a password hashed at an older cost (rehashed at sign-in)', () => {
    /** Stores the account's password hashed at a lower argon2 cost than configured, as an older release would have. */
    async function olderHash(p: { id: string; password: string }) {
      const older = await hash(p.password, { type: argon2id, memoryCost: 4_096, timeCost: 1, parallelism: 1 });
      await h.app.get(DataSource).query('UPDATE accounts SET password_hash = $2 WHERE id = $1', [p.id, older]);
      expect(h.hasher.needsRehash(older)).toBe(true);
    }

    async function storedHash(accountId: string): Promise<string> {
      const rows = await h.app.get(DataSource).query<{ password_hash: string }[]>('SELECT password_hash FROM accounts WHERE id = $1', [accountId]);
      return rows[0]!.password_hash;
    }

    it('parallel sign-ins all sign in (201) while one of them stores the new hash', async () => {
      const a = await h.account();
      await olderHash(a);
      const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => signIn(a.email, a.password, `rehash-${i}`)));
      expect(answers.map((x) => x.status)).toEqual([201, 201, 201, 201]);
      expect(await activeOf(answers)).toHaveLength(4);
      expect(h.hasher.needsRehash(await storedHash(a.id))).toBe(false);
      expect((await signIn(a.email, a.password, 'rehash-after')).status).toBe(201);
    });

    it('a rehash racing a reset never puts the old password back: the sign-in answers 401, the new password holds', async () => {
      const p = await prepared();
      await olderHash(p);
      const [done, answers] = await inOrder(
        p.id,
        () => complete(p),
        1,
        () => Promise.all([signIn(p.email, p.password, 'rehash-late')]),
        1,
      );
      expect(done.status).toBe(200);
      expect(answers.map((a) => [a.status, String(a.body.code)])).toEqual([[401, 'invalid_credentials']]);
      expect((await signIn(p.email, p.password, 'rehash-check')).status).toBe(401);
      expect((await signIn(p.email, p.newPassword, 'rehash-check')).status).toBe(201);
      expect((await stored(p.id)).unrevoked).toHaveLength(1);
    });
  });

  /** `n` accounts with a reset each, asked for up front (five at a time), so each is sent and settled when completed. */
  async function preparedMany(n: number, remembered?: string): Promise<Prepared[]> {
    const accounts: Prepared[] = [];
    for (let i = 0; i < n; i += 5) {
      accounts.push(...(await Promise.all(Array.from({ length: Math.min(5, n - i) }, () => prepared(remembered)))));
    }
    return accounts;
  }

  /**
   * The race as it happens: an old-password sign-in from `device(k)` every `everyMs` (a few
   * in flight), from 100 ms before the reset's completion (200) to 100 ms after it; their answers.
   */
  async function aroundReset(p: Prepared, device: (k: number) => string, everyMs: number): Promise<HttpAnswer[]> {
    let stop = false;
    const inFlight: Promise<HttpAnswer>[] = [];
    const attacker = (async () => {
      for (let k = 0; !stop; k++) {
        inFlight.push(signIn(p.email, p.password, device(k)));
        await sleep(everyMs);
      }
    })();
    await sleep(100);
    const done = await complete(p);
    expect(done.status).toBe(200);
    await sleep(100);
    stop = true;
    await attacker;
    return Promise.all(inFlight);
  }

  /**
   * `rounds` races of sign-ins (two-step off, or from a remembered device) around a reset:
   * the old-password sessions still active after each reset, and how many sign-ins got a
   * session and were refused.
   */
  async function race(rounds: number, remembered: boolean, device: (k: number) => string) {
    const leaked: string[] = [];
    let issued = 0;
    let refused = 0;
    for (const [round, p] of (await preparedMany(rounds, remembered ? 'home' : undefined)).entries()) {
      const answers = await aroundReset(p, device, 20);
      for (const a of answers) expect([201, 401]).toContain(a.status);
      issued += answers.filter((a) => a.status === 201).length;
      refused += answers.filter((a) => a.status === 401).length;
      leaked.push(...(await activeOf(answers)).map((id) => `round ${round}: ${id}`));
      expect((await stored(p.id)).unrevoked).toEqual([]);
    }
    return { leaked, issued, refused };
  }

  describe('challenged old-password sign-ins in a loop around a reset, 10 rounds', () => {
    it('none finishes after the reset, even one whose code was asked after it committed (410)', async () => {
      const finished: string[] = [];
      let challenged = 0;
      for (const [round, p] of (await preparedMany(10, 'home')).entries()) {
        const answers = await aroundReset(p, (k) => `new-${k}`, 25);
        for (const a of answers) expect([202, 401]).toContain(a.status);
        for (const a of answers.filter((x) => x.status === 202)) {
          challenged++;
          const code = await h.codeFor(String(a.body.challenge.id));
          const verified = await h.call('POST', `/v1/sessions/${a.body.loginId}/verify`, { code, rememberDevice: true });
          if (verified.status !== 410) finished.push(`round ${round}: ${verified.status} ${JSON.stringify(verified.body)}`);
        }
        expect(await stored(p.id)).toEqual({ unrevoked: [], remembered: [] });
      }
      expect(finished).toEqual([]);
      expect(challenged).toBeGreaterThan(0);
    });
  });

  describe('a challenged sign-in that lost to a reset before its code went out', () => {
    it('sends no code and answers 401 invalid_credentials (the reset completed after its password was checked)', async () => {
      const p = await prepared();
      await h.twoStep(p.id, { method: 'sms' });
      const gateway = h.app.get<OtpGateway>(OTP_GATEWAY);
      const real = gateway.factors.bind(gateway);
      let held = false;
      let reached!: () => void;
      const atFactors = new Promise<void>((r) => (reached = r));
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      // The sign-in is held after its password check, while it looks up the account's factors.
      const spy = jest.spyOn(gateway, 'factors').mockImplementation(async (accountId) => {
        const answer = await real(accountId);
        if (accountId === p.id && !held) {
          held = true;
          reached();
          await released;
        }
        return answer;
      });
      const since = Date.now();
      try {
        const signing = signIn(p.email, p.password, 'lost-to-reset');
        await atFactors;
        expect((await complete(p)).status).toBe(200);
        release();
        const answer = await signing;
        expect([answer.status, answer.body.code]).toEqual([401, 'invalid_credentials']);
      } finally {
        release();
        spy.mockRestore();
      }
      await sleep(1_000);
      const signInCodes = h.tap
        .of('notification.requested.v1')
        .filter((t) => t.at >= since && t.data['accountId'] === p.id && t.data['template'] === 'otp.sign_in');
      expect(signInCodes.length).toBe(0);
      // The new password signs in (challenged: a code is asked and sent).
      const withNew = await signIn(p.email, p.newPassword, 'lost-to-reset');
      expect(withNew.status).toBe(202);
    });
  });

  describe('old-password sign-ins in a loop around a reset, 20 rounds', () => {
    it('two-step off, new devices: no session of the old password survives any reset', async () => {
      const { leaked, issued, refused } = await race(20, false, (k) => `attacker-${k}`);
      expect(leaked).toEqual([]);
      // The race ran: sign-ins got sessions before the resets and were refused after them.
      expect(issued).toBeGreaterThan(0);
      expect(refused).toBeGreaterThan(0);
    });

    it('from a remembered device: no session of the old password survives any reset', async () => {
      const { leaked, issued, refused } = await race(20, true, () => 'home');
      expect(leaked).toEqual([]);
      expect(issued).toBeGreaterThan(0);
      expect(refused).toBeGreaterThan(0);
    });
  });
});
