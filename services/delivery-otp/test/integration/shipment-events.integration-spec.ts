import { randomUUID } from 'node:crypto';
import { shipmentCancelledV1, shipmentOutForDeliveryV1, shipmentRescheduledV1 } from '@phonegate/contracts';
import type { Bus } from '@phonegate/messaging';
import { eventually } from '@phonegate/platform/testing';
import { auth, containsCode, type Harness, KEYS, logisticsBus, outForDeliveryEvent, startHarness, windowAround } from './harness';

jest.setTimeout(30_000);

/** The logistics events drive the same flows as the HTTP routes. */
describe('shipment events from the bus', () => {
  let h: Harness;
  let logistics: Bus;

  beforeAll(async () => {
    h = await startHarness();
    logistics = await logisticsBus(h);
  });

  afterAll(async () => {
    await logistics?.close();
    await h?.close();
  });

  const code = (shipmentId: string) =>
    h.app.inject({ method: 'GET', url: `/v1/shipments/${shipmentId}/code?accountId=acc_bus`, headers: auth(KEYS.storefront) });

  it('issues and sends a code on shipment.out_for_delivery.v1, once even when the event is delivered again', async () => {
    const shipmentId = `shp_bus_${randomUUID().slice(0, 8)}`;
    const data = {
      shipmentId,
      orderId: 'ord_bus',
      accountId: 'acc_bus',
      merchantId: 'merchantA',
      contact: { phone: '+14155550199' },
      courierId: 'cour_bus',
      window: windowAround(Date.now()),
    };
    const eventId = randomUUID();
    await logistics.events.publish(shipmentOutForDeliveryV1, data, { id: eventId });
    const sms = await eventually(() => h.tap.find((m) => m.data['dedupeKey'] === `delivery-otp:${shipmentId}:1:sms`));
    const sent = (sms.data['variables'] as Record<string, string>)['code']!;
    const shown = await eventually(async () => {
      const res = await code(shipmentId);
      return res.statusCode === 200 ? res.json<{ code: string; expiresAt: string }>() : undefined;
    });
    expect(shown.code).toBe(sent);

    // The same event again (a redelivery), and a second out_for_delivery for the same shipment: no new code, no second SMS.
    await logistics.events.publish(shipmentOutForDeliveryV1, data, { id: eventId });
    await logistics.events.publish(shipmentOutForDeliveryV1, data);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(h.tap.filter((m) => m.data['channel'] === 'sms' && (m.data['origin'] as { ref?: string })?.ref === shipmentId)).toHaveLength(1);
    expect((await code(shipmentId)).json()).toMatchObject({ code: sent });

    const window = windowAround(Date.now(), 0, 300);
    await logistics.events.publish(shipmentRescheduledV1, { shipmentId, window, courierId: 'cour_bus_2' });
    await eventually(async () => (await code(shipmentId)).json().expiresAt === new Date(Date.parse(window.end) + 30 * 60_000).toISOString());
    expect((await code(shipmentId)).json()).toMatchObject({ code: sent });
    // Redis changes before the row commits: wait for the row too.
    await eventually(async () => (await h.pg.query('SELECT courier_id FROM shipments WHERE id = $1', [shipmentId])).rows[0]?.courier_id === 'cour_bus_2');

    await logistics.events.publish(shipmentCancelledV1, { shipmentId, reason: 'customer request' });
    await eventually(async () => (await code(shipmentId)).statusCode === 404);

    // A cancel of an unknown shipment is acknowledged, not parked.
    await logistics.events.publish(shipmentCancelledV1, { shipmentId: 'shp_never_seen' });
    await new Promise((r) => setTimeout(r, 500));
    expect(containsCode(h.logs.text(), sent)).toBe(false);
    expect(h.logs.text()).toContain('shipment event needs no action');
  });

  it('sends no SMS to a premium-rate number from an event: the code goes by e-mail and stays in the app', async () => {
    const shipmentId = `shp_bus_${randomUUID().slice(0, 8)}`;
    await logistics.events.publish(shipmentOutForDeliveryV1, outForDeliveryEvent(shipmentId, { phone: '+19005550123', email: 'bus@example.com' }));
    const mail = await eventually(() => h.tap.find((m) => m.data['channel'] === 'email' && (m.data['origin'] as { ref?: string })?.ref === shipmentId));
    expect(mail.data['to']).toBe('bus@example.com');
    await eventually(async () => (await code(shipmentId)).statusCode === 200);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.tap.filter((m) => m.data['channel'] === 'sms' && (m.data['origin'] as { ref?: string })?.ref === shipmentId)).toHaveLength(0);
    expect(h.logs.text()).toContain('contact phone dropped');
    expect(h.logs.text()).not.toContain('9005550123');
  });
});
