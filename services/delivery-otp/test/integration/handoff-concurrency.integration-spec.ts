import { eventually } from '@phonegate/platform/testing';
import { auth, type Harness, KEYS, startHarness, windowAround } from './harness';

jest.setTimeout(60_000);

/** 200 concurrent handoffs of different shipments by 20 courier devices: all recorded, none crossed. */
describe('concurrent handoffs', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h?.close();
  });

  async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
    for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
  }

  it('records 200 handoffs by 20 devices, each with its own device, courier and shipment', async () => {
    const devices: { courierId: string; deviceId: string; secret: string }[] = [];
    for (let c = 0; c < 20; c++) {
      const courierId = `cour_${c}`;
      const res = await h.app.inject({ method: 'POST', url: `/v1/couriers/${courierId}/devices`, headers: auth(KEYS.ops) });
      expect(res.statusCode).toBe(201);
      devices.push({ courierId, ...res.json<{ deviceId: string; secret: string }>() });
    }
    const shipments = Array.from({ length: 200 }, (_, i) => ({ shipmentId: `shp_c_${i}`, device: devices[i % 20]!, code: '' }));
    const window = windowAround(Date.now());

    await inBatches(shipments, 20, async (s) => {
      const res = await h.app.inject({
        method: 'POST',
        url: `/v1/shipments/${s.shipmentId}/out-for-delivery`,
        headers: auth(KEYS.logistics),
        payload: { orderId: `ord_${s.shipmentId}`, accountId: `acc_${s.shipmentId}`, contact: { phone: '+14155550123' }, courierId: s.device.courierId, window },
      });
      expect(res.statusCode).toBe(201);
      const shown = await h.app.inject({ method: 'GET', url: `/v1/shipments/${s.shipmentId}/code?accountId=acc_${s.shipmentId}`, headers: auth(KEYS.storefront) });
      s.code = shown.json<{ code: string }>().code;
    });

    const results = await Promise.all(
      shipments.map((s) =>
        h.app.inject({
          method: 'POST',
          url: `/v1/shipments/${s.shipmentId}/handoff`,
          headers: { ...auth(s.device.secret), 'idempotency-key': `k-${s.shipmentId}` },
          payload: { code: s.code, at: new Date().toISOString() },
        }),
      ),
    );
    expect(results.map((r) => r.statusCode)).toEqual(shipments.map(() => 200));

    const rows = await h.pg.query<{ shipment_id: string; device_id: string; courier_id: string; outcome: string }>(
      'SELECT shipment_id, device_id, courier_id, outcome FROM handoff_attempts',
    );
    expect(rows.rows).toHaveLength(200);
    const expected = new Map(shipments.map((s) => [s.shipmentId, s.device]));
    for (const row of rows.rows) {
      const device = expected.get(row.shipment_id);
      expect({ shipment: row.shipment_id, device: row.device_id, courier: row.courier_id, outcome: row.outcome }).toEqual({
        shipment: row.shipment_id,
        device: device?.deviceId,
        courier: device?.courierId,
        outcome: 'confirmed',
      });
    }
    const shipmentRows = await h.pg.query<{ id: string; status: string; handed_off_device_id: string }>('SELECT id, status, handed_off_device_id FROM shipments');
    for (const row of shipmentRows.rows) expect([row.status, row.handed_off_device_id]).toEqual(['handed_off', expected.get(row.id)?.deviceId]);

    const confirmed = await eventually(() => {
      const events = h.tap.filter((m) => m.envelope.type === 'delivery.handoff.confirmed.v1');
      return events.length >= 200 ? events : undefined;
    }, 20_000);
    expect(confirmed).toHaveLength(200);
    for (const e of confirmed) {
      const device = expected.get(e.data['shipmentId'] as string);
      expect([e.data['deviceId'], e.data['courierId']]).toEqual([device?.deviceId, device?.courierId]);
    }
  });
});
