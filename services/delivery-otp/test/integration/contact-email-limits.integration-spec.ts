import { OVERSIZED_EMAILS } from '@phonegate/platform/testing';
import {
  auth,
  dumpPostgres,
  dumpRedis,
  type Harness,
  KEYS,
  startHarness,
  windowAround,
} from './harness';

/**
 * The out-for-delivery body refuses a contact e-mail no mail server can take (RFC 5321 size
 * limits) at the edge: 422 validation_failed naming `contact.email`, nothing stored, nothing
 * published (before, it was accepted and the notifier retried the SMTP 501 for hours).
 */
jest.setTimeout(30_000);

describe('delivery-otp: contact e-mail within RFC 5321 limits', () => {
  let h: Harness;
  let seq = 0;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h?.close();
  });

  function outForDelivery(email: string) {
    const shipmentId = `shp_mail_${++seq}_${Date.now().toString(36)}`;
    return h.app
      .inject({
        method: 'POST',
        url: `/v1/shipments/${shipmentId}/out-for-delivery`,
        headers: auth(KEYS.logistics),
        payload: {
          orderId: `ord_mail_${seq}`,
          accountId: 'acc_mail',
          contact: { phone: '+14155550123', email },
          courierId: 'cour_mail',
          window: windowAround(Date.now()),
        },
      })
      .then((res) => ({ shipmentId, res }));
  }

  const label63 = 'd'.repeat(63);

  it.each(OVERSIZED_EMAILS)(
    'refuses %s with 422 validation_failed on contact.email and writes nothing',
    async (_what, email) => {
      const { shipmentId, res } = await outForDelivery(email);
      expect(res.statusCode).toBe(422);
      expect(res.headers['content-type']).toContain('application/problem+json');
      const body = res.json<{ code: string; errors: { field: string; message: string }[] }>();
      expect(body.code).toBe('validation_failed');
      expect(body.errors).toEqual([expect.objectContaining({ field: 'contact.email' })]);
      expect(body.errors[0]!.message).toMatch(/longer than (64|63|254) octets/);
      // The relay polls every 200 ms: give it time to publish anything it might have.
      await new Promise((r) => setTimeout(r, 500));
      expect(await dumpPostgres(h)).not.toContain(shipmentId);
      expect(await dumpRedis(h)).not.toContain(shipmentId);
      expect(h.tap.filter((m) => m.raw.includes(shipmentId))).toEqual([]);
    },
  );

  it('still takes an address right at the limits (64-octet local part, 63-octet label)', async () => {
    const { shipmentId, res } = await outForDelivery(`${'x'.repeat(64)}@${label63}.example.com`);
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ shipmentId, status: 'awaiting_handoff' });
    expect(await dumpPostgres(h)).toContain(shipmentId);
  });
});
