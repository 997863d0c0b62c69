import { dropRedisPrefix, eventually } from '@phonegate/platform/testing';
import { auth, type Harness, KEYS, newShipmentId, OffsetClock, outForDeliveryBody, startHarness } from './harness';

jest.setTimeout(30_000);

const SECOND = 1_000;

/**
 * The customer's regenerate (SECURITY C9): at most 5 sends per shipment,
 * counting the first issue (so 4 regenerations), and a cooldown that doubles
 * with each send (30 s after the issue, then 60 s, 120 s, 240 s), counted
 * from the last send; a refusal is 429 with an honest Retry-After, the
 * seconds actually left.
 */
describe('regenerate: growing cooldown and the cap', () => {
  let h: Harness;
  const clock = new OffsetClock();

  beforeAll(async () => {
    h = await startHarness({ clock, env: { DELIVERY_REGENERATE_COOLDOWN: '30s', LOG_LEVEL: 'warn' } });
  });

  afterAll(async () => {
    await h?.close();
  });

  const regenerate = (shipmentId: string) =>
    h.app.inject({ method: 'POST', url: `/v1/shipments/${shipmentId}/code/regenerate`, headers: auth(KEYS.storefront), payload: { accountId: 'acc_ana' } });
  const smsSent = (shipmentId: string) => h.tap.filter((m) => m.data['channel'] === 'sms' && String(m.data['dedupeKey']).startsWith(`delivery-otp:${shipmentId}:`)).length;

  /** A shipment out for delivery now (the first send), the clock back at the real time. */
  async function issue(tag: string): Promise<string> {
    clock.offsetMs = 0;
    const shipmentId = newShipmentId(tag);
    const res = await h.app.inject({
      method: 'POST',
      url: `/v1/shipments/${shipmentId}/out-for-delivery`,
      headers: auth(KEYS.logistics),
      payload: outForDeliveryBody(shipmentId, 'cour_cool'),
    });
    expect(res.statusCode).toBe(201);
    return shipmentId;
  }

  /** A 429 `code` whose Retry-After is `seconds`, give or take one. */
  async function refused(shipmentId: string, code: string, seconds: number) {
    const res = await regenerate(shipmentId);
    expect(res.statusCode).toBe(429);
    expect(res.json()).toMatchObject({ code });
    const retryAfter = Number(res.headers['retry-after']);
    expect(Math.abs(retryAfter - seconds)).toBeLessThanOrEqual(1);
    return retryAfter;
  }

  it('doubles the cooldown with each send and stops at 5 sends, with an honest Retry-After', async () => {
    const shipmentId = await issue('cool');

    // After the issue (send 1): 30 s; then 60 s, 120 s, 240 s.
    let waited = 0;
    for (const cooldown of [30, 60, 120, 240]) {
      await refused(shipmentId, 'resend_cooldown', cooldown);
      clock.offsetMs = (waited + cooldown - 10) * SECOND;
      await refused(shipmentId, 'resend_cooldown', 10);
      waited += cooldown;
      clock.offsetMs = waited * SECOND;
      expect((await regenerate(shipmentId)).statusCode).toBe(200);
    }
    await eventually(() => smsSent(shipmentId) === 5);

    // Five sends: no more, however long the customer waits (Retry-After: until the code expires).
    clock.offsetMs = (waited + 1_000) * SECOND;
    const capped = await regenerate(shipmentId);
    expect(capped.statusCode).toBe(429);
    expect(capped.json()).toMatchObject({ code: 'rate_limited' });
    expect(Number(capped.headers['retry-after'])).toBeGreaterThan(0);
    expect(smsSent(shipmentId)).toBe(5);
  });

  it('keeps the cooldown when Redis lost the code (counted from the row)', async () => {
    const shipmentId = await issue('cool_lost');
    clock.offsetMs = 30 * SECOND;
    expect((await regenerate(shipmentId)).statusCode).toBe(200);
    await dropRedisPrefix(h.prefix);
    clock.offsetMs = 50 * SECOND;
    await refused(shipmentId, 'resend_cooldown', 40);
    clock.offsetMs = 90 * SECOND;
    expect((await regenerate(shipmentId)).statusCode).toBe(200);
    await refused(shipmentId, 'resend_cooldown', 120);
  });
});
