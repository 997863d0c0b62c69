import { DomainError } from '@phonegate/platform';
import { eventually } from '@phonegate/platform/testing';
import { type CheckResult, CodeStore } from '../../src/codes/code.store';
import { DeviceRegistry } from '../../src/devices/device.registry';
import { ShipmentLedger } from '../../src/persistence/shipment.ledger';
import { auth, type Harness, KEYS, newShipmentId, outForDeliveryBody, startHarness, windowAround } from './harness';

jest.setTimeout(30_000);

/**
 * The courier's and the customer's journeys off the happy path, over HTTP on
 * real PostgreSQL, Redis and RabbitMQ: devices revoked or replaced while
 * signed in, offline devices, changes while a device is mid-attempt.
 */
describe('courier and customer journeys', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ env: { LOG_LEVEL: 'warn' } });
  });

  afterEach(() => jest.restoreAllMocks());

  afterAll(async () => {
    await h?.close();
  });

  const post = (url: string, key: string, payload: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
    h.app.inject({ method: 'POST', url, headers: { ...auth(key), ...headers }, payload });
  const handoff = (shipmentId: string, secret: string, code: string, at = new Date().toISOString(), headers: Record<string, string> = {}) =>
    post(`/v1/shipments/${shipmentId}/handoff`, secret, { code, at }, headers);
  const revokeDevice = (courierId: string, deviceId: string) =>
    h.app.inject({ method: 'DELETE', url: `/v1/couriers/${courierId}/devices/${deviceId}`, headers: auth(KEYS.ops) });
  const row = async (shipmentId: string) =>
    (await h.pg.query<{ status: string; handed_off_device_id: string | null }>('SELECT status, handed_off_device_id FROM shipments WHERE id = $1', [shipmentId])).rows[0];
  const confirmed = async (shipmentId: string) =>
    (await h.pg.query<{ device_id: string }>(`SELECT device_id FROM handoff_attempts WHERE shipment_id = $1 AND outcome = 'confirmed'`, [shipmentId])).rows;

  async function device(courierId: string): Promise<{ deviceId: string; secret: string }> {
    const res = await post(`/v1/couriers/${courierId}/devices`, KEYS.ops);
    expect(res.statusCode).toBe(201);
    return res.json();
  }

  async function sentCode(shipmentId: string, generation: number): Promise<string> {
    const msg = await eventually(() => h.tap.find((m) => m.data['dedupeKey'] === `delivery-otp:${shipmentId}:${generation}:sms`));
    return (msg.data['variables'] as Record<string, string>)['code'] as string;
  }

  async function shipment(courierId: string, over: Record<string, unknown> = {}) {
    const shipmentId = newShipmentId('jrn');
    const res = await post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, outForDeliveryBody(shipmentId, courierId, over));
    expect(res.statusCode).toBe(201);
    return { shipmentId, code: await sentCode(shipmentId, 1) };
  }

  /** The next transaction on `shipmentId` fails as a database outage would (the approval's record). */
  function failNextRecord(shipmentId: string) {
    const ledger = h.app.get(ShipmentLedger);
    const original = ledger.transaction.bind(ledger);
    let failed = false;
    jest.spyOn(ledger, 'transaction').mockImplementation((id, options, work) => {
      if (id === shipmentId && !failed) {
        failed = true;
        return Promise.reject(new DomainError('service_unavailable', 'database down (injected)', {}, true));
      }
      return original(id, options, work);
    });
  }

  it('records a handoff whose device was revoked before it could repair its record: the courier\'s new device writes it', async () => {
    const old = await device('cour_jrn_rot');
    const { shipmentId, code } = await shipment('cour_jrn_rot');
    const at = new Date().toISOString();
    failNextRecord(shipmentId);
    // Redis approved the right code; the record failed (503). The phone is then lost and revoked.
    expect((await handoff(shipmentId, old.secret, code, at)).statusCode).toBe(503);
    expect((await revokeDevice('cour_jrn_rot', old.deviceId)).statusCode).toBe(204);
    expect((await handoff(shipmentId, old.secret, code)).statusCode).toBe(401);

    const replacement = await device('cour_jrn_rot');
    const next = await handoff(shipmentId, replacement.secret, code);
    expect([next.statusCode, next.json().code]).toEqual([409, 'already_handed_off']);
    // The approved handoff is recorded, under the device Redis approved, at the time it gave.
    expect(await row(shipmentId)).toEqual({ status: 'handed_off', handed_off_device_id: old.deviceId });
    expect(await confirmed(shipmentId)).toEqual([{ device_id: old.deviceId }]);
    const at1 = await h.pg.query<{ device_at: Date }>(`SELECT device_at FROM handoff_attempts WHERE shipment_id = $1 AND outcome = 'confirmed'`, [shipmentId]);
    expect(at1.rows[0]?.device_at.toISOString()).toBe(at);
    await eventually(() => h.tap.some((m) => m.envelope.type === 'delivery.handoff.confirmed.v1' && m.data['shipmentId'] === shipmentId));
  });

  it('stops a revoked device at once even when its lookup was in flight during the revoke', async () => {
    const dev = await device('cour_jrn_cache');
    const { shipmentId, code } = await shipment('cour_jrn_cache');
    const registry = h.app.get(DeviceRegistry);
    const real = registry.findActiveByDigest.bind(registry);
    let reached!: () => void;
    const lookupReached = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    jest.spyOn(registry, 'findActiveByDigest').mockImplementationOnce(async (digest) => {
      const found = await real(digest);
      reached();
      await released;
      return found;
    });
    // A request of the device (a wrong code) looks the device up; ops revokes it meanwhile.
    const inFlight = handoff(shipmentId, dev.secret, code === '0000' ? '0001' : '0000');
    await lookupReached;
    expect((await revokeDevice('cour_jrn_cache', dev.deviceId)).statusCode).toBe(204);
    release();
    // The lookup overlapped the revoke: the device is asked for again, and refused.
    expect((await inFlight).statusCode).toBe(401);
    // The revoke is done: the device's next request is refused, not served from a cache filled by the lookup.
    expect((await handoff(shipmentId, dev.secret, code)).statusCode).toBe(401);
    expect(await row(shipmentId)).toMatchObject({ status: 'awaiting_handoff' });
  });

  /** The next code check runs for real, then holds its answer until released. */
  function holdCheck() {
    const store = h.app.get(CodeStore);
    const real = store.check.bind(store);
    let held!: (result: CheckResult) => void;
    const reached = new Promise<CheckResult>((resolve) => (held = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    jest.spyOn(store, 'check').mockImplementationOnce(async (input) => {
      const result = await real(input);
      held(result);
      await released;
      return result;
    });
    return { reached, release };
  }

  const reassign = (shipmentId: string, courierId: string) =>
    post(`/v1/shipments/${shipmentId}/reschedule`, KEYS.logistics, { window: windowAround(Date.now()), courierId });

  it('reassign while the old courier\'s wrong code is being recorded: the new courier inherits the attempt, the old one is refused', async () => {
    const a = await device('cour_jrn_ra_a');
    const b = await device('cour_jrn_ra_b');
    const { shipmentId, code } = await shipment('cour_jrn_ra_a');
    const wrong = code === '000000' ? '000001' : '000000';
    const hold = holdCheck();
    const pending = handoff(shipmentId, a.secret, wrong);
    expect((await hold.reached).verdict).toBe('mismatch');
    expect((await reassign(shipmentId, 'cour_jrn_ra_b')).statusCode).toBe(200);
    hold.release();
    expect((await pending).json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 4 });
    expect((await handoff(shipmentId, a.secret, code)).json()).toMatchObject({ code: 'not_assigned' });
    expect((await handoff(shipmentId, b.secret, wrong)).json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 3 });
    expect((await handoff(shipmentId, b.secret, code)).statusCode).toBe(200);
  });

  it('reassign while the old courier\'s approved handoff is being recorded: 409 for the reassign, the handoff stands', async () => {
    const a = await device('cour_jrn_rb_a');
    const { shipmentId, code } = await shipment('cour_jrn_rb_a');
    const hold = holdCheck();
    const pending = handoff(shipmentId, a.secret, code);
    expect((await hold.reached).verdict).toBe('ok');
    const moved = await reassign(shipmentId, 'cour_jrn_rb_b');
    expect([moved.statusCode, moved.json().code]).toEqual([409, 'already_handed_off']);
    hold.release();
    expect((await pending).statusCode).toBe(200);
    expect(await row(shipmentId)).toEqual({ status: 'handed_off', handed_off_device_id: a.deviceId });
  });

  it('regenerate while the courier\'s wrong code is being recorded: the new code starts with every attempt', async () => {
    const a = await device('cour_jrn_rg');
    const { shipmentId, code } = await shipment('cour_jrn_rg');
    const wrong = code === '000000' ? '000001' : '000000';
    for (let i = 0; i < 3; i++) await handoff(shipmentId, a.secret, wrong);
    const hold = holdCheck();
    const pending = handoff(shipmentId, a.secret, wrong);
    expect((await hold.reached).verdict).toBe('mismatch');
    expect((await post(`/v1/shipments/${shipmentId}/code/regenerate`, KEYS.storefront, { accountId: 'acc_ana' })).statusCode).toBe(200);
    hold.release();
    expect((await pending).statusCode).toBe(422);
    const fresh = await sentCode(shipmentId, 2);
    const wrong2 = fresh === '000000' ? '000001' : '000000';
    expect((await handoff(shipmentId, a.secret, wrong2)).json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 4 });
    const state = await h.pg.query('SELECT handoff_attempts, handoff_locked FROM shipments WHERE id = $1', [shipmentId]);
    expect(state.rows).toEqual([{ handoff_attempts: 1, handoff_locked: false }]);
    expect((await handoff(shipmentId, a.secret, fresh)).statusCode).toBe(200);
  });

  it('takes an offline device\'s handoff recorded inside the window and submitted late, with its device time; refuses one from before the window', async () => {
    const dev = await device('cour_jrn_offline');
    const now = Date.now();
    const { shipmentId, code } = await shipment('cour_jrn_offline', { window: { start: new Date(now - 30 * 60_000).toISOString(), end: new Date(now + 60 * 60_000).toISOString() } });
    const before = await handoff(shipmentId, dev.secret, code, new Date(now - 40 * 60_000).toISOString());
    expect(before.statusCode).toBe(410);
    expect(before.json()).toMatchObject({ code: 'window_closed', reason: 'outside_window' });
    const ahead = await handoff(shipmentId, dev.secret, code, new Date(now + 10 * 60_000).toISOString());
    expect(ahead.json()).toMatchObject({ code: 'window_closed', reason: 'device_clock_ahead' });
    const at = new Date(now - 20 * 60_000).toISOString();
    const late = await handoff(shipmentId, dev.secret, code, at);
    expect(late.statusCode).toBe(200);
    expect(late.json()).toEqual({ status: 'handed_off', at });
  });

  it('unlock by support: the old code works again; a replayed 423 stays 423 for its Idempotency-Key, a new key is checked', async () => {
    const dev = await device('cour_jrn_unlock');
    const { shipmentId, code } = await shipment('cour_jrn_unlock');
    const wrong = code === '000000' ? '000001' : '000000';
    for (let i = 0; i < 5; i++) await handoff(shipmentId, dev.secret, wrong);
    const key = { 'idempotency-key': `k-${shipmentId}` };
    const at = new Date().toISOString();
    expect((await handoff(shipmentId, dev.secret, code, at, key)).statusCode).toBe(423);
    expect((await post(`/v1/shipments/${shipmentId}/unlock`, KEYS.ops)).statusCode).toBe(200);
    expect((await handoff(shipmentId, dev.secret, code, at, key)).statusCode).toBe(423);
    expect((await handoff(shipmentId, dev.secret, code, at, { 'idempotency-key': `k2-${shipmentId}` })).statusCode).toBe(200);
  });

  it('cancel then out for delivery again: the old code is a wrong code for the new one; the new code works', async () => {
    const dev = await device('cour_jrn_cx');
    const { shipmentId, code } = await shipment('cour_jrn_cx');
    expect((await post(`/v1/shipments/${shipmentId}/cancel`, KEYS.logistics)).statusCode).toBe(200);
    expect((await handoff(shipmentId, dev.secret, code)).json()).toMatchObject({ code: 'window_closed', reason: 'cancelled' });
    const again = await post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, outForDeliveryBody(shipmentId, 'cour_jrn_cx', { window: windowAround(Date.now()) }));
    expect(again.statusCode).toBe(201);
    const second = await sentCode(shipmentId, 2);
    if (second !== code) expect((await handoff(shipmentId, dev.secret, code)).json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 4 });
    expect((await handoff(shipmentId, dev.secret, second)).statusCode).toBe(200);
  });
});
