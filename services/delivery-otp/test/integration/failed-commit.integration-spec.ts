import { DomainError } from '@phonegate/platform';
import { eventually } from '@phonegate/platform/testing';
import { CodeStore } from '../../src/codes/code.store';
import { codeKey, revokeMarkerKey } from '../../src/codes/redis-code.store';
import { ShipmentLedger } from '../../src/persistence/shipment.ledger';
import { auth, containsCode, courierSecret, type Harness, KEYS, newShipmentId, outForDeliveryBody, startHarness, windowAround } from './harness';

jest.setTimeout(30_000);

/**
 * A use case that changes a shipment's live code in Redis and then writes its
 * row in PostgreSQL (cancel, reschedule and reassign, out for delivery again
 * keeping the code, support unlock, regenerate) changes nothing when its
 * PostgreSQL transaction fails: the answer is 503 `service_unavailable`
 * (problem+json), the row and the Redis hash are as they were, the code still
 * works and a lock stays in force. Once the fault clears, the same call does
 * what it should.
 *
 * Faults are real: a trigger on this test's `shipments` table, armed for one
 * shipment, raises on its update (`statement`), kills the service's own
 * connection there (`connection`: the database gone mid-transaction), or does
 * either at COMMIT through a deferred constraint trigger (`commit`,
 * `commit_connection`: the commit fails, so the service cannot know whether
 * it went through and reads the row again).
 */
const FAULTS = ['statement', 'connection', 'commit', 'commit_connection'] as const;
type Fault = (typeof FAULTS)[number];

describe('a failed PostgreSQL commit leaves the live code as it was', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ env: { LOG_LEVEL: 'warn' } });
    await h.pg.query(`
      CREATE TABLE test_faults (shipment_id text PRIMARY KEY, mode text NOT NULL);
      CREATE FUNCTION test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE armed text;
      BEGIN
        SELECT mode INTO armed FROM test_faults WHERE shipment_id = NEW.id;
        IF armed = TG_ARGV[0] THEN RAISE EXCEPTION 'injected fault (%)', armed; END IF;
        IF armed = TG_ARGV[0] || '_connection' OR (TG_ARGV[0] = 'statement' AND armed = 'connection') THEN
          PERFORM pg_terminate_backend(pg_backend_pid());
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_fault_statement BEFORE UPDATE ON shipments FOR EACH ROW EXECUTE FUNCTION test_fault('statement');
      CREATE CONSTRAINT TRIGGER test_fault_commit AFTER UPDATE ON shipments DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION test_fault('commit');
    `);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await h?.close();
  });

  const arm = (shipmentId: string, mode: Fault) => h.pg.query('INSERT INTO test_faults (shipment_id, mode) VALUES ($1, $2)', [shipmentId, mode]);
  const disarm = (shipmentId: string) => h.pg.query('DELETE FROM test_faults WHERE shipment_id = $1', [shipmentId]);

  const post = (url: string, key: string, payload: Record<string, unknown> = {}) => h.app.inject({ method: 'POST', url, headers: auth(key), payload });
  const handoff = (shipmentId: string, secret: string, code: string) => post(`/v1/shipments/${shipmentId}/handoff`, secret, { code, at: new Date().toISOString() });
  const show = (shipmentId: string) => h.app.inject({ method: 'GET', url: `/v1/shipments/${shipmentId}/code?accountId=acc_ana`, headers: auth(KEYS.storefront) });
  const cancel = (shipmentId: string) => post(`/v1/shipments/${shipmentId}/cancel`, KEYS.logistics);
  const unlock = (shipmentId: string) => post(`/v1/shipments/${shipmentId}/unlock`, KEYS.ops);
  const regenerate = (shipmentId: string) => post(`/v1/shipments/${shipmentId}/code/regenerate`, KEYS.storefront, { accountId: 'acc_ana' });
  const wrongFor = (code: string) => (code === '000000' ? '000001' : '000000');

  async function sentCode(shipmentId: string, generation: number): Promise<string> {
    const msg = await eventually(() => h.tap.find((m) => m.data['dedupeKey'] === `delivery-otp:${shipmentId}:${generation}:sms`));
    return (msg.data['variables'] as Record<string, string>)['code'] as string;
  }

  /** A shipment out for delivery with courier `courierId` (a device registered), its code sent. */
  async function shipment(courierId: string) {
    const secret = await courierSecret(h, courierId);
    const shipmentId = newShipmentId('fc');
    const body = outForDeliveryBody(shipmentId, courierId);
    expect((await post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, body)).statusCode).toBe(201);
    return { shipmentId, secret, body, code: await sentCode(shipmentId, 1) };
  }

  async function wrongCodes(shipmentId: string, secret: string, code: string, times: number) {
    for (let i = 0; i < times; i++) await handoff(shipmentId, secret, wrongFor(code));
  }

  /** The shipment's row and live code as they are (every column, every field). */
  async function snapshot(shipmentId: string) {
    const rows = await h.pg.query('SELECT * FROM shipments WHERE id = $1', [shipmentId]);
    return { row: rows.rows[0] as Record<string, unknown>, live: await h.redis.hgetall(codeKey(shipmentId)) };
  }

  /** A 503 problem+json `service_unavailable`, as for any database outage. */
  function expectOutage(res: Awaited<ReturnType<typeof post>>) {
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 503, code: 'service_unavailable' });
  }

  /** Runs `call` with the fault armed for the shipment, then disarms it. */
  async function underFault(shipmentId: string, mode: Fault, call: () => ReturnType<typeof post>) {
    await arm(shipmentId, mode);
    try {
      return await call();
    } finally {
      await disarm(shipmentId);
    }
  }

  const injected = () => new DomainError('service_unavailable', 'database down (injected)', {}, true);

  /**
   * The database is down after the next transaction (which runs, with the fault armed, for
   * real): any later transaction, as an undo's look at the row, fails until `up()`.
   */
  function downAfterNextTransaction() {
    const ledger = h.app.get(ShipmentLedger);
    const original = ledger.transaction.bind(ledger);
    let calls = 0;
    const spy = jest.spyOn(ledger, 'transaction').mockImplementation((id, options, work) => (++calls === 1 ? original(id, options, work) : Promise.reject(injected())));
    return { up: () => spy.mockRestore(), calls: () => calls };
  }

  describe.each([
    ['cancel', cancel, 'window_closed'],
    ['regenerate', regenerate, 'code_mismatch'],
  ] as const)('%s that failed before its COMMIT while the database stays down', (_name, call, refusal) => {
    it('puts the code back without asking the database: as it was, locked; once the database is back the call goes through', async () => {
      const { shipmentId, secret, code } = await shipment(`cour_fc_down_${_name}`);
      await wrongCodes(shipmentId, secret, code, 5);
      const before = await snapshot(shipmentId);
      const db = downAfterNextTransaction();
      expectOutage(await underFault(shipmentId, 'connection', () => call(shipmentId)));
      expect(db.calls()).toBe(1);
      db.up();
      expect(await snapshot(shipmentId)).toEqual(before);
      expect((await show(shipmentId)).json()).toMatchObject({ code, status: 'locked' });
      expect((await handoff(shipmentId, secret, code)).statusCode).toBe(423);

      expect((await call(shipmentId)).statusCode).toBe(200);
      expect((await handoff(shipmentId, secret, code)).json()).toMatchObject({ code: refusal });
    });
  });

  describe('cancel', () => {
    it.each(FAULTS)('%s: 503, the shipment, its code and its lock as they were; once the fault clears the cancel revokes the code and the lock carries on', async (mode) => {
      const { shipmentId, secret, body, code } = await shipment(`cour_fc_cx_${mode}`);
      await wrongCodes(shipmentId, secret, code, 5);
      const before = await snapshot(shipmentId);
      expect(before.live['state']).toBe('locked');

      expectOutage(await underFault(shipmentId, mode, () => cancel(shipmentId)));
      expect(await snapshot(shipmentId)).toEqual(before);
      expect(await h.redis.exists(revokeMarkerKey(shipmentId))).toBe(0);
      expect((await show(shipmentId)).json()).toMatchObject({ code, status: 'locked' });
      expect((await handoff(shipmentId, secret, code)).json()).toMatchObject({ code: 'handoff_locked', attemptsRemaining: 0 });

      expect((await cancel(shipmentId)).statusCode).toBe(200);
      expect((await show(shipmentId)).statusCode).toBe(404);
      expect((await handoff(shipmentId, secret, code)).json()).toMatchObject({ code: 'window_closed', reason: 'cancelled' });
      // The lock went to the row with the cancel: the next code inherits it.
      expect((await post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, body)).statusCode).toBe(201);
      expect((await handoff(shipmentId, secret, await sentCode(shipmentId, 2))).statusCode).toBe(423);
    });

    it.each(FAULTS)('%s: the code in use still opens the door, with the attempts it had spent', async (mode) => {
      const { shipmentId, secret, code } = await shipment(`cour_fc_cx_open_${mode}`);
      await wrongCodes(shipmentId, secret, code, 2);
      const before = await snapshot(shipmentId);

      expectOutage(await underFault(shipmentId, mode, () => cancel(shipmentId)));
      expect(await snapshot(shipmentId)).toEqual(before);
      expect((await show(shipmentId)).json()).toMatchObject({ code, status: 'awaiting_handoff' });
      expect((await handoff(shipmentId, secret, wrongFor(code))).json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 2 });
      expect((await handoff(shipmentId, secret, code)).statusCode).toBe(200);
      expect((await cancel(shipmentId)).json()).toMatchObject({ code: 'already_handed_off' });
    });

    it('whose commit went through but answered an error stays cancelled: no code comes back', async () => {
      const { shipmentId, secret, code } = await shipment('cour_fc_cx_committed');
      const ledger = h.app.get(ShipmentLedger);
      const original = ledger.transaction.bind(ledger);
      jest.spyOn(ledger, 'transaction').mockImplementationOnce((id, options, work) => original(id, options, work).then(() => Promise.reject(injected())));

      expectOutage(await cancel(shipmentId));
      expect((await snapshot(shipmentId)).row['status']).toBe('cancelled');
      expect(await h.redis.exists(codeKey(shipmentId))).toBe(0);
      expect((await show(shipmentId)).statusCode).toBe(404);
      expect((await handoff(shipmentId, secret, code)).json()).toMatchObject({ code: 'window_closed', reason: 'cancelled' });
      expect((await cancel(shipmentId)).statusCode).toBe(200);
    });

    it('whose commit is unknown and whose row cannot be read: no usable code, the lock kept; the retry cancels', async () => {
      const { shipmentId, secret, body, code } = await shipment('cour_fc_cx_unknown');
      await wrongCodes(shipmentId, secret, code, 5);
      const ledger = h.app.get(ShipmentLedger);
      const original = ledger.transaction.bind(ledger);
      jest
        .spyOn(ledger, 'transaction')
        // The commit fails (rolled back)...
        .mockImplementationOnce((id, options, work) => original(id, options, async (tx) => {
          await work(tx);
          throw injected();
        }))
        // ...and the undo's look at the row too (the database is gone).
        .mockImplementationOnce(() => Promise.reject(injected()));

      expectOutage(await cancel(shipmentId));
      expect((await snapshot(shipmentId)).row['status']).toBe('awaiting_handoff');
      expect(await h.redis.hmget(codeKey(shipmentId), 'state', 'attempts', 'sealed', 'hmac', 'hkid')).toEqual(['locked', '5', null, null, null]);
      expect((await show(shipmentId)).statusCode).toBe(404);
      expect((await handoff(shipmentId, secret, code)).statusCode).toBe(423);

      expect((await cancel(shipmentId)).statusCode).toBe(200);
      expect((await post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, body)).statusCode).toBe(201);
      const second = await sentCode(shipmentId, 2);
      expect((await handoff(shipmentId, secret, second)).statusCode).toBe(423);
      // The undo's warnings name the shipment and the outcome, never a code or the number.
      expect(h.logs.text()).toContain('code store change undone after a failed transaction');
      expect(containsCode(h.logs.text(), code) || containsCode(h.logs.text(), second)).toBe(false);
      expect(h.logs.text()).not.toContain('4155550123');
    });

    it('a revert never brings a code back once another revoke saw it gone, or once a code was issued', async () => {
      const store = h.app.get(CodeStore);
      const { shipmentId } = await shipment('cour_fc_cx_revert');
      const first = await store.revoke(shipmentId);
      if (first.verdict !== 'ok') throw new Error(`revoke answered ${first.verdict}`);
      // Another cancel (which may commit) found no code: the first revoke's revert is void.
      expect(await store.revoke(shipmentId)).toEqual({ verdict: 'not_found' });
      expect(await store.revert(shipmentId, first.change, 'restore')).toBe(false);
      expect(await h.redis.exists(codeKey(shipmentId))).toBe(0);

      const other = await shipment('cour_fc_cx_revert_issue');
      const revoked = await store.revoke(other.shipmentId);
      if (revoked.verdict !== 'ok') throw new Error(`revoke answered ${revoked.verdict}`);
      expect((await post(`/v1/shipments/${other.shipmentId}/out-for-delivery`, KEYS.logistics, other.body)).statusCode).toBe(201);
      const issued = await h.redis.hgetall(codeKey(other.shipmentId));
      expect(await store.revert(other.shipmentId, revoked.change, 'restore')).toBe(false);
      expect(await h.redis.hgetall(codeKey(other.shipmentId))).toEqual(issued);
    });
  });

  describe.each([
    ['reschedule', (shipmentId: string, courierId: string) => post(`/v1/shipments/${shipmentId}/reschedule`, KEYS.logistics, { window: windowAround(Date.now(), 30, 120), courierId })],
    ['out for delivery again', (shipmentId: string, courierId: string) =>
      post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, outForDeliveryBody(shipmentId, courierId, { window: windowAround(Date.now(), 30, 120) }))],
  ] as const)('%s to another courier', (name, move) => {
    it.each(FAULTS)('%s: 503, the window and the courier as they were; once the fault clears the new courier takes over', async (mode) => {
      const tag = `${name === 'reschedule' ? 'rs' : 'ofd'}_${mode}`;
      const { shipmentId, secret, code } = await shipment(`cour_fc_${tag}_a`);
      const next = `cour_fc_${tag}_b`;
      const nextSecret = await courierSecret(h, next);
      await wrongCodes(shipmentId, secret, code, 1);
      const before = await snapshot(shipmentId);

      expectOutage(await underFault(shipmentId, mode, () => move(shipmentId, next)));
      expect(await snapshot(shipmentId)).toEqual(before);
      expect((await handoff(shipmentId, nextSecret, code)).json()).toMatchObject({ code: 'not_assigned' });

      expect((await move(shipmentId, next)).statusCode).toBeLessThan(300);
      expect((await snapshot(shipmentId)).row['courier_id']).toBe(next);
      expect((await handoff(shipmentId, secret, code)).json()).toMatchObject({ code: 'not_assigned' });
      expect((await handoff(shipmentId, nextSecret, wrongFor(code))).json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 3 });
      expect((await handoff(shipmentId, nextSecret, code)).statusCode).toBe(200);
    });
  });

  describe('support unlock', () => {
    it.each(FAULTS)('%s: 503, the lock stays in force; once the fault clears the unlock lifts it', async (mode) => {
      const { shipmentId, secret, code } = await shipment(`cour_fc_ul_${mode}`);
      await wrongCodes(shipmentId, secret, code, 5);
      const before = await snapshot(shipmentId);
      expect(before.row['handoff_locked']).toBe(true);

      expectOutage(await underFault(shipmentId, mode, () => unlock(shipmentId)));
      expect(await snapshot(shipmentId)).toEqual(before);
      expect((await handoff(shipmentId, secret, code)).statusCode).toBe(423);

      expect((await unlock(shipmentId)).json()).toMatchObject({ status: 'awaiting_handoff', attemptsRemaining: 5 });
      expect((await handoff(shipmentId, secret, code)).statusCode).toBe(200);
    });
  });

  describe('an unlock and a reschedule that interleave (review s7b)', () => {
    /** Sessions of this test's database waiting for an advisory lock (the shipment's). */
    const lockWaiters = async () => (await h.pg.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)).rows[0]?.n ?? 0;

    it('a reassign whose commit fails while an unlock waits for the shipment: 503, the code stays with the old courier', async () => {
      const { shipmentId, secret, code } = await shipment('cour_fc_ix_a');
      const nextSecret = await courierSecret(h, 'cour_fc_ix_b');
      const ledger = h.app.get(ShipmentLedger);
      const original = ledger.transaction.bind(ledger);
      let unlocked: ReturnType<typeof unlock> | undefined;
      // The reassign's work done, support's unlock queues on the shipment's lock; then the reassign's COMMIT fails (armed).
      jest.spyOn(ledger, 'transaction').mockImplementationOnce((id, options, work) => original(id, options, async (tx) => {
        const result = await work(tx);
        unlocked = unlock(shipmentId);
        await eventually(async () => (await lockWaiters()) > 0 || undefined);
        return result;
      }));
      const reassign = () => post(`/v1/shipments/${shipmentId}/reschedule`, KEYS.logistics, { window: windowAround(Date.now(), 30, 120), courierId: 'cour_fc_ix_b' });
      expectOutage(await underFault(shipmentId, 'commit', reassign));
      expect((await unlocked)?.statusCode).toBe(200);

      expect((await snapshot(shipmentId)).row['courier_id']).toBe('cour_fc_ix_a');
      expect(await h.redis.hget(codeKey(shipmentId), 'courier')).toBe('cour_fc_ix_a');
      expect((await handoff(shipmentId, nextSecret, code)).json()).toMatchObject({ code: 'not_assigned' });
      expect((await handoff(shipmentId, secret, code)).statusCode).toBe(200);
    });

    /**
     * A locked shipment whose support unlock fails at its COMMIT; `meanwhile` (the fault disarmed)
     * takes the shipment's lock after the unlock's rollback and before its undo, and must succeed (2xx).
     */
    async function unlockFailingAround(courierId: string, meanwhile: (shipmentId: string, body: Record<string, unknown>) => ReturnType<typeof post>) {
      const made = await shipment(courierId);
      const { shipmentId, secret, code, body } = made;
      await wrongCodes(shipmentId, secret, code, 5);
      const store = h.app.get(CodeStore);
      const revert = store.revert.bind(store);
      jest.spyOn(store, 'revert').mockImplementationOnce(async (...args) => {
        await disarm(shipmentId);
        expect((await meanwhile(shipmentId, body)).statusCode).toBeLessThan(300);
        return revert(...args);
      });
      expectOutage(await underFault(shipmentId, 'commit', () => unlock(shipmentId)));
      return made;
    }

    it('an unlock whose commit fails, a reschedule landing before its undo: 503, the lock stays in force', async () => {
      const { shipmentId, secret, code } = await unlockFailingAround('cour_fc_ix_ul', (id, body) =>
        post(`/v1/shipments/${id}/reschedule`, KEYS.logistics, { window: body['window'] }));

      const { row, live } = await snapshot(shipmentId);
      expect(row).toMatchObject({ handoff_locked: true, handoff_attempts: 5 });
      expect(live).toMatchObject({ state: 'locked', attempts: '5' });
      expect((await handoff(shipmentId, secret, code)).statusCode).toBe(423);
      expect((await unlock(shipmentId)).statusCode).toBe(200);
      expect((await handoff(shipmentId, secret, code)).statusCode).toBe(200);
    });

    it('an unlock whose commit fails, a code issued to another account before its undo: the new code is locked', async () => {
      const { shipmentId, secret } = await unlockFailingAround('cour_fc_ix_re', (id, body) =>
        post(`/v1/shipments/${id}/out-for-delivery`, KEYS.logistics, { ...body, accountId: 'acc_bob' }));
      expect((await snapshot(shipmentId)).row).toMatchObject({ account_id: 'acc_bob', code_generation: 2, handoff_locked: true, handoff_attempts: 5 });
      expect((await handoff(shipmentId, secret, await sentCode(shipmentId, 2))).statusCode).toBe(423);
    });

    it('an unlock whose commit fails, a cancel committing before its undo: the lock stays on the row for the next code', async () => {
      const { shipmentId, secret, body } = await unlockFailingAround('cour_fc_ix_cx', (id) => cancel(id));
      expect((await snapshot(shipmentId)).row).toMatchObject({ status: 'cancelled', handoff_locked: true, handoff_attempts: 5 });

      expect((await post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, body)).statusCode).toBe(201);
      expect((await handoff(shipmentId, secret, await sentCode(shipmentId, 2))).statusCode).toBe(423);
    });
  });

  describe('regenerate', () => {
    it.each(FAULTS)('%s: 503, the code sent and its lock as they were; once the fault clears a new code works', async (mode) => {
      const { shipmentId, secret, code } = await shipment(`cour_fc_rg_${mode}`);
      await wrongCodes(shipmentId, secret, code, 5);
      const before = await snapshot(shipmentId);

      expectOutage(await underFault(shipmentId, mode, () => regenerate(shipmentId)));
      expect(await snapshot(shipmentId)).toEqual(before);
      expect((await show(shipmentId)).json()).toMatchObject({ code, status: 'locked' });
      expect((await handoff(shipmentId, secret, code)).statusCode).toBe(423);

      expect((await regenerate(shipmentId)).statusCode).toBe(200);
      expect((await handoff(shipmentId, secret, await sentCode(shipmentId, 2))).statusCode).toBe(200);
    });

  });
});
