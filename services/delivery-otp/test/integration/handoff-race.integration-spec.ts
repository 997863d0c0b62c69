import { eventually } from '@phonegate/platform/testing';
import { CodeStore, type Reschedule, type UpdateResult } from '../../src/codes/code.store';
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

  /** The next store.reschedule runs for real, then holds its answer until released. */
  function holdNextReschedule() {
    const real = store.reschedule.bind(store);
    let held!: () => void;
    const reached = new Promise<void>((resolve) => (held = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    jest
      .spyOn(store, 'reschedule')
      .mockImplementationOnce(
        async (shipmentId: string, change: Reschedule): Promise<UpdateResult> => {
          const result = await real(shipmentId, change);
          held();
          await released;
          return result;
        },
      );
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
    const hold = holdNextReschedule();
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
    const hold = holdNextReschedule();
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
});
