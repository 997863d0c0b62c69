import { randomUUID } from 'node:crypto';
import { shipmentOutForDeliveryV1 } from '@phonegate/contracts';
import type { Bus } from '@phonegate/messaging';
import { eventually } from '@phonegate/platform/testing';
import { codeKey } from '../../src/codes/redis-code.store';
import { auth, type Harness, KEYS, logisticsBus, newShipmentId, outForDeliveryBody, outForDeliveryEvent, startHarness } from './harness';

jest.setTimeout(30_000);

/**
 * SECURITY S3 on the delivery path: the handoff code's SMS follows the same
 * calling-code policy as every code otp sends (an allow list and a deny list,
 * DELIVERY_ALLOWED_COUNTRIES / DELIVERY_DENIED_COUNTRIES), refused before
 * anything is sent. Over HTTP a number outside it is the 422 of any contact
 * phone that cannot take the code by SMS; from the bus the number is dropped
 * and the code goes by e-mail and stays in the app.
 */
describe('the calling-code policy for handoff SMS', () => {
  let h: Harness;
  let logistics: Bus;

  beforeAll(async () => {
    // +44 is in both lists: the deny list wins. +49 is in neither: not allowed.
    h = await startHarness({ env: { DELIVERY_ALLOWED_COUNTRIES: '1,44', DELIVERY_DENIED_COUNTRIES: '+44', LOG_LEVEL: 'info' } });
    logistics = await logisticsBus(h);
  });

  afterAll(async () => {
    await logistics?.close();
    await h?.close();
  });

  const outForDelivery = (shipmentId: string, phone: string) =>
    h.app.inject({
      method: 'POST',
      url: `/v1/shipments/${shipmentId}/out-for-delivery`,
      headers: auth(KEYS.logistics),
      payload: outForDeliveryBody(shipmentId, 'cour_cc', { contact: { phone, email: 'ana@example.com' } }),
    });
  const sentFor = (shipmentId: string) => h.tap.filter((m) => (m.data['origin'] as { ref?: string } | undefined)?.ref === shipmentId);

  it('refuses an out-for-delivery over HTTP whose number is denied or not allowed: 422 on contact.phone, nothing issued or sent', async () => {
    for (const phone of ['+447700900123', '+4915123456789']) {
      const shipmentId = newShipmentId('cc_refused');
      const refused = await outForDelivery(shipmentId, phone);
      expect({ phone, status: refused.statusCode, code: refused.json().code, fields: refused.json().errors.map((e: { field: string }) => e.field) }).toEqual({
        phone,
        status: 422,
        code: 'validation_failed',
        fields: ['contact.phone'],
      });
      expect(refused.headers['content-type']).toContain('application/problem+json');
      expect(refused.body).not.toContain(phone.slice(1));
      expect(await h.redis.exists(codeKey(shipmentId))).toBe(0);
      expect((await h.pg.query('SELECT 1 FROM shipments WHERE id = $1', [shipmentId])).rowCount).toBe(0);
      expect(sentFor(shipmentId)).toHaveLength(0);
    }
    const allowed = newShipmentId('cc_allowed');
    expect((await outForDelivery(allowed, '+14155550123')).statusCode).toBe(201);
    await eventually(() => sentFor(allowed).some((m) => m.data['channel'] === 'sms'));
  });

  it('drops the SMS for a shipment.out_for_delivery event whose number is refused: the code goes by e-mail and stays in the app', async () => {
    const shipmentId = `shp_cc_bus_${randomUUID().slice(0, 8)}`;
    await logistics.events.publish(shipmentOutForDeliveryV1, outForDeliveryEvent(shipmentId, { phone: '+447700900123', email: 'bus@example.com' }));
    const mail = await eventually(() => sentFor(shipmentId).find((m) => m.data['channel'] === 'email'));
    expect(mail.data['to']).toBe('bus@example.com');
    const shown = await h.app.inject({ method: 'GET', url: `/v1/shipments/${shipmentId}/code?accountId=acc_bus`, headers: auth(KEYS.storefront) });
    expect(shown.statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(sentFor(shipmentId).filter((m) => m.data['channel'] === 'sms')).toHaveLength(0);
    expect((await h.pg.query('SELECT phone FROM shipments WHERE id = $1', [shipmentId])).rows).toEqual([{ phone: null }]);
    expect(h.logs.text()).toContain('contact phone dropped');
    expect(h.logs.text()).not.toContain('7700900123');
  });
});
