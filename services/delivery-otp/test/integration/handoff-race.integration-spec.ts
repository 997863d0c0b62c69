import { DomainError } from '@phonegate/platform';
import { eventually } from '@phonegate/platform/testing';
import { CodeStore } from '../../src/codes/code.store';
import { codeKey } from '../../src/codes/redis-code.store';
import { ShipmentLedger } from '../../src/persistence/shipment.ledger';
import { auth, type Harness, KEYS, startHarness, windowAround } from './harness';

jest.setTimeout(30_000);

/**
 * A handoff confirmed while a reschedule or a repeated out-for-delivery of the
 * same shipment is between its Redis step and its write stays recorded: the
 * write that read the shipment before the handoff never puts it back to
 * awaiting_handoff. The race is made deterministic by holding the real
 * store's reschedule step (after Redis answered) until the handoff either
 * committed or waits for the shipment's lock.
 */
describe('handoff racing a reschedule or a repeated out-for-delivery', () => {
  let h: Harness;
  let store: CodeStore;
  let seq = 0;

  beforeAll(async () => {
    h = await startHarness({ env: { LOG_LEVEL: 'warn' } });
    store = h.app.get(CodeStore);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await h?.close();
  });

  const post = (url: string, key: string, payload: Record<string, unknown>) =>
    h.app.inject({ method: 'POST', url, headers: auth(key), payload });

  async function shipmentWithCode(courierId: string) {
    const dev = await post(`/v1/couriers/${courierId}/devices`, KEYS.ops, {});
    expect(dev.statusCode).toBe(201);
    const shipmentId = `shp_race_${++seq}_${Date.now().toString(36)}`;
    const order = {
      orderId: `ord_${shipmentId}`,
      accountId: 'acc_race',
      contact: { phone: '+14155550123' },
      courierId,
      window: windowAround(Date.now()),
    };
    expect(
      (await post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, order))
        .statusCode,
    ).toBe(201);
    const shown = await h.app.inject({
      method: 'GET',
      url: `/v1/shipments/${shipmentId}/code?accountId=acc_race`,
      headers: auth(KEYS.storefront),
    });
    return {
      shipmentId,
      order,
      code: shown.json<{ code: string }>().code,
      device: dev.json<{ deviceId: string; secret: string }>(),
    };
  }

  /** The next call of the store's `method` runs for real, then holds its answer until released. */
  function holdNext<K extends 'reschedule' | 'check' | 'revoke'>(method: K) {
    type Result = Awaited<ReturnType<CodeStore[K]>>;
    const real = (store[method] as (...args: unknown[]) => Promise<Result>).bind(store);
    let held!: (result: Result) => void;
    const reached = new Promise<Result>((resolve) => (held = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    jest.spyOn(store, method).mockImplementationOnce((async (...args: unknown[]) => {
      const result = await real(...args);
      held(result);
      await released;
      return result;
    }) as never);
    return { reached, release };
  }

  /** Sessions of this test's database waiting for an advisory lock (the shipment's). */
  async function lockWaiters(): Promise<number> {
    const rows = await h.pg.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    return rows.rows[0]?.n ?? 0;
  }

  async function row(shipmentId: string) {
    const rows = await h.pg.query<{
      status: string;
      handed_off_at: Date | null;
      handed_off_device_id: string | null;
      window_end: Date;
    }>(
      'SELECT status, handed_off_at, handed_off_device_id, window_end FROM shipments WHERE id = $1',
      [shipmentId],
    );
    return rows.rows[0];
  }

  it.each([
    ['a reschedule', 'reschedule'],
    ['a repeated out-for-delivery', 'out-for-delivery'],
  ] as const)('keeps the handoff recorded when it lands during %s', async (_name, route) => {
    const { shipmentId, order, code, device } = await shipmentWithCode(`cour_race_${route}`);
    const window = windowAround(Date.now(), 30, 180);
    const hold = holdNext('reschedule');
    const update = post(
      `/v1/shipments/${shipmentId}/${route}`,
      KEYS.logistics,
      route === 'reschedule' ? { window } : { ...order, window },
    );
    await hold.reached;

    const at = new Date().toISOString();
    let handoffDone = false;
    const handoff = h.app
      .inject({
        method: 'POST',
        url: `/v1/shipments/${shipmentId}/handoff`,
        headers: auth(device.secret),
        payload: { code, at },
      })
      .then((res) => {
        handoffDone = true;
        return res;
      });
    // The handoff has passed Redis and either committed its record or waits for the shipment's lock.
    await eventually(async () => handoffDone || (await lockWaiters()) > 0);
    hold.release();

    const [updated, handedOff] = await Promise.all([update, handoff]);
    expect(handedOff.statusCode).toBe(200);
    // The update's Redis step came first: it took effect, and the handoff after it.
    expect(updated.statusCode).toBe(route === 'reschedule' ? 200 : 201);
    expect(await row(shipmentId)).toEqual({
      status: 'handed_off',
      handed_off_at: new Date(at),
      handed_off_device_id: device.deviceId,
      window_end: new Date(window.end),
    });
    const attempts = await h.pg.query(
      'SELECT outcome, device_id FROM handoff_attempts WHERE shipment_id = $1',
      [shipmentId],
    );
    expect(attempts.rows).toEqual([{ outcome: 'confirmed', device_id: device.deviceId }]);
  });

  it('never overwrites a shipment handed off after the update read it: the update answers 409 already_handed_off', async () => {
    const { shipmentId } = await shipmentWithCode('cour_race_guard');
    const hold = holdNext('reschedule');
    const update = post(`/v1/shipments/${shipmentId}/reschedule`, KEYS.logistics, {
      window: windowAround(Date.now(), 30, 180),
    });
    await hold.reached;
    // A writer that does not take the shipment's lock marks it handed off meanwhile.
    const at = new Date('2026-01-02T03:04:05.678Z');
    await h.pg.query(
      `UPDATE shipments SET status = 'handed_off', handed_off_at = $2, handed_off_device_id = 'dev_elsewhere' WHERE id = $1`,
      [shipmentId, at],
    );
    hold.release();

    const updated = await update;
    expect(updated.statusCode).toBe(409);
    expect(updated.json()).toMatchObject({ code: 'already_handed_off' });
    expect(await row(shipmentId)).toMatchObject({
      status: 'handed_off',
      handed_off_at: at,
      handed_off_device_id: 'dev_elsewhere',
    });
  });

  /** The shipment's handoff count and lock as its row carries them. */
  async function handoffState(shipmentId: string) {
    const rows = await h.pg.query<{ handoff_attempts: number; handoff_locked: boolean }>(
      'SELECT handoff_attempts, handoff_locked FROM shipments WHERE id = $1',
      [shipmentId],
    );
    return rows.rows[0];
  }

  const wrongFor = (code: string) =>
    String((Number(code) + 1) % 10 ** code.length).padStart(code.length, '0');

  const handoff = (shipmentId: string, secret: string, code: string) =>
    post(`/v1/shipments/${shipmentId}/handoff`, secret, { code, at: new Date().toISOString() });

  // A support unlock that lands while a wrong code is between its Redis step and the write that
  // mirrors the count and lock onto the row: the row must not be locked again after the unlock
  // answered 200 (the shipment's next code would inherit that stale lock).
  async function lockRace(courierId: string) {
    const { shipmentId, code, device } = await shipmentWithCode(courierId);
    return { shipmentId, code, wrong: wrongFor(code), secret: device.secret };
  }

  it('leaves the row unlocked when the unlock commits between the locking wrong code and its mirror', async () => {
    const { shipmentId, code, wrong, secret } = await lockRace('cour_unlock_race_lock');
    for (let i = 0; i < 4; i++)
      expect((await handoff(shipmentId, secret, wrong)).statusCode).toBe(422);

    const hold = holdNext('check');
    const fifth = handoff(shipmentId, secret, wrong);
    expect((await hold.reached).verdict).toBe('locked_now');
    // Redis says locked; support unlocks before the wrong code's write reaches the row.
    const unlocked = await post(`/v1/shipments/${shipmentId}/unlock`, KEYS.ops, {});
    expect(unlocked.statusCode).toBe(200);
    expect(await handoffState(shipmentId)).toEqual({ handoff_attempts: 0, handoff_locked: false });
    hold.release();
    // The courier who typed it was locked out at that moment: that answer stands.
    expect((await fifth).statusCode).toBe(423);

    // The row mirrors what is live after the unlock: no lock, no spent attempts.
    expect(await handoffState(shipmentId)).toEqual({ handoff_attempts: 0, handoff_locked: false });
    expect((await handoff(shipmentId, secret, code)).statusCode).toBe(200);
  });

  it('leaves the row with the live count when the unlock commits between a wrong code and its mirror', async () => {
    const { shipmentId, code, wrong, secret } = await lockRace('cour_unlock_race_count');
    for (let i = 0; i < 5; i++) await handoff(shipmentId, secret, wrong);
    expect(await handoffState(shipmentId)).toEqual({ handoff_attempts: 5, handoff_locked: true });

    const unlockedFirst = await post(`/v1/shipments/${shipmentId}/unlock`, KEYS.ops, {});
    expect(unlockedFirst.statusCode).toBe(200);
    const hold = holdNext('check');
    const wrongAgain = handoff(shipmentId, secret, wrong);
    expect((await hold.reached).verdict).toBe('mismatch');
    expect((await post(`/v1/shipments/${shipmentId}/unlock`, KEYS.ops, {})).statusCode).toBe(200);
    hold.release();
    expect((await wrongAgain).json()).toMatchObject({
      code: 'code_mismatch',
      attemptsRemaining: 4,
    });

    // The unlock reset the live count after that wrong code: the row says so too.
    expect(await handoffState(shipmentId)).toEqual({ handoff_attempts: 0, handoff_locked: false });
    expect((await handoff(shipmentId, secret, code)).statusCode).toBe(200);
  });

  /** The next transaction on the ledger does its work, then fails as a COMMIT that did not go through. */
  function failNextCommit() {
    const ledger = h.app.get(ShipmentLedger);
    const original = ledger.transaction.bind(ledger);
    jest.spyOn(ledger, 'transaction').mockImplementationOnce((id, options, work) =>
      original(id, options, async (tx) => {
        await work(tx);
        throw new DomainError('service_unavailable', 'commit failed (injected)', {}, true);
      }),
    );
  }

  it('keeps the lock on the row when an unlock that lands between the locking wrong code and its mirror fails', async () => {
    const { shipmentId, code, wrong, secret } = await lockRace('cour_unlock_race_fail');
    for (let i = 0; i < 4; i++)
      expect((await handoff(shipmentId, secret, wrong)).statusCode).toBe(422);
    expect(await handoffState(shipmentId)).toEqual({ handoff_attempts: 4, handoff_locked: false });

    const hold = holdNext('check');
    const fifth = handoff(shipmentId, secret, wrong);
    expect((await hold.reached).verdict).toBe('locked_now');
    // Support's unlock lifts the lock in Redis, then its commit fails; its undo waits until the
    // wrong code's row write (under the shipment's lock, free again) is done.
    failNextCommit();
    let undoReached!: () => void;
    const undoing = new Promise<void>((resolve) => (undoReached = resolve));
    const revert = store.revert.bind(store);
    jest.spyOn(store, 'revert').mockImplementationOnce(async (...args) => {
      undoReached();
      await fifth;
      return revert(...args);
    });
    const unlocked = post(`/v1/shipments/${shipmentId}/unlock`, KEYS.ops, {});
    await undoing;
    hold.release();
    expect((await fifth).statusCode).toBe(423);
    expect((await unlocked).statusCode).toBe(503);

    // Nothing was unlocked: the row carries the lock and every attempt, as Redis does again.
    expect(await handoffState(shipmentId)).toEqual({ handoff_attempts: 5, handoff_locked: true });
    expect(await h.redis.hmget(codeKey(shipmentId), 'state', 'attempts')).toEqual(['locked', '5']);
    expect((await handoff(shipmentId, secret, code)).statusCode).toBe(423);
  });

  /**
   * A cancel whose revoke (run for real) is held while a handoff with the right code reaches the
   * shipment's lock, then released; the cancel's transaction fails if `failing`.
   */
  async function handoffDuringCancel(courierId: string, failing: boolean) {
    const { shipmentId, code, device } = await shipmentWithCode(courierId);
    if (failing) failNextCommit();
    const hold = holdNext('revoke');
    const cancelled = post(`/v1/shipments/${shipmentId}/cancel`, KEYS.logistics, {});
    await hold.reached;
    // The code is gone from Redis; the cancel has not committed its row (or failed) yet.
    let handoffDone = false;
    const handedOff = handoff(shipmentId, device.secret, code).then((res) => {
      handoffDone = true;
      return res;
    });
    await eventually(async () => handoffDone || (await lockWaiters()) > 0);
    hold.release();
    const cancel = await cancelled;
    const answer = await handedOff;
    const attempts = async () =>
      (await h.pg.query<{ outcome: string; reason: string | null }>(
        'SELECT outcome, reason FROM handoff_attempts WHERE shipment_id = $1',
        [shipmentId],
      )).rows;
    return { shipmentId, code, device, cancel, answer: { status: answer.statusCode, headers: answer.headers, ...answer.json<Record<string, unknown>>() }, attempts };
  }

  it('asks a courier whose handoff lands during a cancel that then fails to try again: 503, nothing recorded; the retry hands off', async () => {
    const { shipmentId, code, device, cancel, answer, attempts } = await handoffDuringCancel('cour_race_cancel_fail', true);
    expect(cancel.statusCode).toBe(503);
    // The code was not checked: no refusal (window_closed, expired) for a code that is live again.
    expect(answer).toMatchObject({ status: 503, code: 'service_unavailable', headers: { 'retry-after': '1' } });
    expect(await attempts()).toEqual([]);

    expect(await h.redis.exists(codeKey(shipmentId))).toBe(1);
    expect((await handoff(shipmentId, device.secret, code)).statusCode).toBe(200);
    expect(await attempts()).toEqual([{ outcome: 'confirmed', reason: null }]);
  });

  it('tells a courier whose handoff lands during a cancel that the shipment was cancelled, and records it so', async () => {
    const { cancel, answer, attempts } = await handoffDuringCancel('cour_race_cancel', false);
    expect(cancel.statusCode).toBe(200);
    expect(answer).toMatchObject({ status: 410, code: 'window_closed', reason: 'cancelled' });
    expect(await attempts()).toEqual([{ outcome: 'window_closed', reason: 'cancelled' }]);
  });
});
