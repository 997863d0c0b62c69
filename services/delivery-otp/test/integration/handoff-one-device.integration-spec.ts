import { createRedis, DomainError, redisReady } from '@phonegate/platform';
import { eventually, TEST_INFRA } from '@phonegate/platform/testing';
import { type CheckInput, type CheckResult, CodeStore } from '../../src/codes/code.store';
import { ShipmentLedger } from '../../src/persistence/shipment.ledger';
import { auth, type Harness, KEYS, newShipmentId, outForDeliveryBody, startHarness } from './harness';

jest.setTimeout(60_000);

/**
 * One device confirming one shipment several times at once (a double tap, a
 * client retrying with a fresh Idempotency-Key each time): only the request
 * whose code check approved answers 200, every other one 409
 * already_handed_off (API.md), and the handoff is recorded once. The first
 * 200 is repeated only for the same device and Idempotency-Key; a failure
 * between the approval and the record is still repaired by the next request.
 */
describe('handoffs of one shipment by one device', () => {
  let h: Harness;
  let store: CodeStore;
  let ledger: ShipmentLedger;

  beforeAll(async () => {
    h = await startHarness({ env: { LOG_LEVEL: 'warn' } });
    store = h.app.get(CodeStore);
    ledger = h.app.get(ShipmentLedger);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await h?.close();
  });

  async function shipmentWithCode(tag: string) {
    const courierId = `cour_${tag}`;
    const dev = await h.app.inject({ method: 'POST', url: `/v1/couriers/${courierId}/devices`, headers: auth(KEYS.ops), payload: {} });
    expect(dev.statusCode).toBe(201);
    const shipmentId = newShipmentId(tag);
    const issued = await h.app.inject({
      method: 'POST',
      url: `/v1/shipments/${shipmentId}/out-for-delivery`,
      headers: auth(KEYS.logistics),
      payload: outForDeliveryBody(shipmentId, courierId),
    });
    expect(issued.statusCode).toBe(201);
    const shown = await h.app.inject({ method: 'GET', url: `/v1/shipments/${shipmentId}/code?accountId=acc_ana`, headers: auth(KEYS.storefront) });
    expect(shown.statusCode).toBe(200);
    return { shipmentId, code: shown.json<{ code: string }>().code, device: dev.json<{ deviceId: string; secret: string }>() };
  }

  const handoff = (shipmentId: string, secret: string, payload: { code: string; at: string }, key?: string) =>
    h.app.inject({
      method: 'POST',
      url: `/v1/shipments/${shipmentId}/handoff`,
      headers: { ...auth(secret), ...(key ? { 'idempotency-key': key } : {}) },
      payload,
    });

  async function attempts(shipmentId: string) {
    const rows = await h.pg.query<{ outcome: string; device_id: string }>(
      'SELECT outcome, device_id FROM handoff_attempts WHERE shipment_id = $1 ORDER BY outcome',
      [shipmentId],
    );
    return rows.rows;
  }

  const events = (type: string, shipmentId: string) => h.tap.filter((m) => m.envelope.type === type && m.data['shipmentId'] === shipmentId);
  const handedOffMails = (shipmentId: string) =>
    h.tap.filter((m) => m.data['template'] === 'delivery.handed_off' && (m.data['variables'] as Record<string, string>)['shipmentId'] === shipmentId);

  /** One confirmed event and one handed-off e-mail, and no more after the relay had time to send others. */
  async function expectAnnouncedOnce(shipmentId: string) {
    await eventually(() => events('delivery.handoff.confirmed.v1', shipmentId).length >= 1 && handedOffMails(shipmentId).length >= 1);
    await new Promise((r) => setTimeout(r, 600));
    expect(events('delivery.handoff.confirmed.v1', shipmentId)).toHaveLength(1);
    expect(handedOffMails(shipmentId)).toHaveLength(1);
  }

  /** The next store.check whose verdict is `ok` runs for real, then holds its answer until released. */
  function holdApproval() {
    const real = store.check.bind(store);
    const approved = signal();
    const released = signal();
    jest.spyOn(store, 'check').mockImplementation(async (input: CheckInput): Promise<CheckResult> => {
      const result = await real(input);
      if (result.verdict === 'ok') {
        approved.fire();
        await released.fired;
      }
      return result;
    });
    return { approved: approved.fired, release: released.fire };
  }

  it('answers exactly one of 50 parallel confirmations with distinct Idempotency-Keys with 200, the other 49 with 409; one record', async () => {
    const { shipmentId, code, device } = await shipmentWithCode('par');
    const payload = { code, at: new Date().toISOString() };
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => handoff(shipmentId, device.secret, payload, `par-${shipmentId}-${i}`)));

    const statuses = answers.map((a) => a.statusCode);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(49);
    for (const refused of answers.filter((a) => a.statusCode === 409)) expect(refused.json()).toMatchObject({ code: 'already_handed_off' });
    const winner = answers.findIndex((a) => a.statusCode === 200);
    expect(answers[winner]?.json()).toEqual({ status: 'handed_off', at: payload.at });

    // The winner's retry is the first 200 again; any other key stays 409.
    const replay = await handoff(shipmentId, device.secret, payload, `par-${shipmentId}-${winner}`);
    expect([replay.statusCode, replay.body]).toEqual([200, answers[winner]?.body]);
    const other = await handoff(shipmentId, device.secret, payload, `par-${shipmentId}-${winner === 0 ? 1 : 0}`);
    expect([other.statusCode, other.json().code]).toEqual([409, 'already_handed_off']);

    const rows = await attempts(shipmentId);
    expect(rows.filter((r) => r.outcome === 'confirmed')).toEqual([{ outcome: 'confirmed', device_id: device.deviceId }]);
    expect(rows.filter((r) => r.outcome === 'already_handed_off')).toHaveLength(49);
    expect(rows).toHaveLength(50);
    await expectAnnouncedOnce(shipmentId);
  });

  it('answers 409 to a second confirmation (other key, or none) arriving while the approved one is still recording; the approved one 200', async () => {
    const { shipmentId, code, device } = await shipmentWithCode('held');
    const payload = { code, at: new Date().toISOString() };
    const hold = holdApproval();
    const first = handoff(shipmentId, device.secret, payload, `held-${shipmentId}-1`);
    await hold.approved;

    const second = await handoff(shipmentId, device.secret, payload, `held-${shipmentId}-2`);
    const keyless = await handoff(shipmentId, device.secret, payload);
    hold.release();
    const approved = await first;

    expect([second.statusCode, second.json().code]).toEqual([409, 'already_handed_off']);
    expect([keyless.statusCode, keyless.json().code]).toEqual([409, 'already_handed_off']);
    expect([approved.statusCode, approved.json()]).toEqual([200, { status: 'handed_off', at: payload.at }]);
    const rows = await attempts(shipmentId);
    expect(rows.filter((r) => r.outcome === 'confirmed')).toEqual([{ outcome: 'confirmed', device_id: device.deviceId }]);
    expect(rows.filter((r) => r.outcome === 'already_handed_off')).toHaveLength(2);
    const status = await h.pg.query('SELECT status, handed_off_device_id FROM shipments WHERE id = $1', [shipmentId]);
    expect(status.rows).toEqual([{ status: 'handed_off', handed_off_device_id: device.deviceId }]);
    await expectAnnouncedOnce(shipmentId);
  });

  it('repairs a record lost after the approval on the next request with another key (409), and answers the first key 200', async () => {
    const { shipmentId, code, device } = await shipmentWithCode('lost');
    const payload = { code, at: new Date().toISOString() };
    const original = ledger.transaction.bind(ledger);
    let failures = 0;
    jest.spyOn(ledger, 'transaction').mockImplementation((id, options, work) => {
      if (id === shipmentId && failures === 0) {
        failures++;
        return Promise.reject(new DomainError('service_unavailable', 'database down (injected)', {}, true));
      }
      return original(id, options, work);
    });

    const first = await handoff(shipmentId, device.secret, payload, `lost-${shipmentId}-1`);
    expect(first.statusCode).toBe(503);
    const other = await handoff(shipmentId, device.secret, payload, `lost-${shipmentId}-2`);
    expect([other.statusCode, other.json().code]).toEqual([409, 'already_handed_off']);
    // Recorded by the other request all the same: no confirmed handoff goes unrecorded.
    expect((await attempts(shipmentId)).filter((r) => r.outcome === 'confirmed')).toEqual([{ outcome: 'confirmed', device_id: device.deviceId }]);
    const status = await h.pg.query('SELECT status FROM shipments WHERE id = $1', [shipmentId]);
    expect(status.rows).toEqual([{ status: 'handed_off' }]);

    // The 503 was not kept, so the first key's retry runs again: it is the approved request, 200.
    const retry = await handoff(shipmentId, device.secret, payload, `lost-${shipmentId}-1`);
    expect([retry.statusCode, retry.json()]).toEqual([200, { status: 'handed_off', at: payload.at }]);
    const rows = await attempts(shipmentId);
    expect(rows).toEqual([
      { outcome: 'already_handed_off', device_id: device.deviceId },
      { outcome: 'confirmed', device_id: device.deviceId },
    ]);
    await expectAnnouncedOnce(shipmentId);
  });

  it("records a repair by the approving device's later request at the approval's time, not the later request's time and place", async () => {
    const { shipmentId, code, device } = await shipmentWithCode('reptime');
    const original = ledger.transaction.bind(ledger);
    let failures = 0;
    jest.spyOn(ledger, 'transaction').mockImplementation((id, options, work) => {
      if (id === shipmentId && failures === 0) {
        failures++;
        return Promise.reject(new DomainError('service_unavailable', 'database down (injected)', {}, true));
      }
      return original(id, options, work);
    });
    // An offline device's approval two minutes ago at one door; its next request now, elsewhere.
    const approvedAt = new Date(Date.now() - 120_000).toISOString();
    const first = await h.app.inject({
      method: 'POST',
      url: `/v1/shipments/${shipmentId}/handoff`,
      headers: { ...auth(device.secret), 'idempotency-key': `reptime-${shipmentId}-1` },
      payload: { code, at: approvedAt, location: { lat: 1, lng: 1 } },
    });
    expect(first.statusCode).toBe(503);
    const laterAt = new Date().toISOString();
    const later = await h.app.inject({
      method: 'POST',
      url: `/v1/shipments/${shipmentId}/handoff`,
      headers: { ...auth(device.secret), 'idempotency-key': `reptime-${shipmentId}-2` },
      payload: { code, at: laterAt, location: { lat: 2, lng: 2 } },
    });
    expect(later.statusCode).toBe(409);

    const rows = await h.pg.query<{ outcome: string; device_at: Date; location: unknown }>(
      'SELECT outcome, device_at, location FROM handoff_attempts WHERE shipment_id = $1 ORDER BY outcome',
      [shipmentId],
    );
    expect(rows.rows.map((r) => ({ ...r, device_at: r.device_at.toISOString() }))).toEqual([
      { outcome: 'already_handed_off', device_at: laterAt, location: { lat: 2, lng: 2 } },
      { outcome: 'confirmed', device_at: approvedAt, location: null },
    ]);
    const shipment = await h.pg.query<{ handed_off_at: Date }>('SELECT handed_off_at FROM shipments WHERE id = $1', [shipmentId]);
    expect(shipment.rows[0]?.handed_off_at.toISOString()).toBe(approvedAt);
    const confirmed = await eventually(() => events('delivery.handoff.confirmed.v1', shipmentId)[0]);
    expect(confirmed.data).toMatchObject({ at: approvedAt });
    expect(confirmed.data['location']).toBeUndefined();
  });

  it('answers the first 200 again to the same device and Idempotency-Key once the kept answer is gone, recording nothing twice', async () => {
    const { shipmentId, code, device } = await shipmentWithCode('gone');
    const payload = { code, at: new Date().toISOString() };
    const key = `gone-${shipmentId}`;
    const first = await handoff(shipmentId, device.secret, payload, key);
    expect(first.statusCode).toBe(200);

    // The kept answers expire (or were never kept: a crash after the commit).
    const raw = createRedis({ url: TEST_INFRA.redisUrl });
    await redisReady(raw);
    try {
      const kept = await raw.keys(`${h.prefix}idem:*`);
      expect(kept.length).toBeGreaterThan(0);
      await raw.del(...kept);
    } finally {
      raw.disconnect();
    }

    const again = await handoff(shipmentId, device.secret, payload, key);
    expect([again.statusCode, again.body]).toEqual([200, first.body]);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    const sibling = await h.app.inject({ method: 'POST', url: `/v1/couriers/cour_gone/devices`, headers: auth(KEYS.ops), payload: {} });
    const otherDevice = await handoff(shipmentId, sibling.json<{ secret: string }>().secret, payload, key);
    expect([otherDevice.statusCode, otherDevice.json().code]).toEqual([409, 'already_handed_off']);
    expect(await attempts(shipmentId)).toEqual([
      { outcome: 'already_handed_off', device_id: sibling.json<{ deviceId: string }>().deviceId },
      { outcome: 'confirmed', device_id: device.deviceId },
    ]);
    await expectAnnouncedOnce(shipmentId);
  });
});

/** A promise settled by calling `fire`. */
function signal(): { fired: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const fired = new Promise<void>((resolve) => (fire = resolve));
  return { fired, fire };
}
