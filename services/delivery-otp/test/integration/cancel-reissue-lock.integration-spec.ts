import { dropRedisPrefix, eventually } from '@phonegate/platform/testing';
import { codeKey } from '../../src/codes/redis-code.store';
import { auth, courierSecret, type Harness, KEYS, newShipmentId, outForDeliveryBody, startHarness, windowAround } from './harness';

jest.setTimeout(30_000);

/**
 * A cancel followed by the same shipment going out for delivery again is no
 * way out of a handoff lock (SECURITY C5, C9): the spent attempts, the lock
 * and the regeneration count carry over to the new code, kept on the
 * shipment's row in PostgreSQL, so they also outlive Redis. The customer's
 * regenerate (within its cap) and a support unlock still lift a lock.
 */
describe('cancel, then out for delivery again', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ env: { DELIVERY_MAX_REGENERATIONS: '2', LOG_LEVEL: 'warn' } });
  });

  afterAll(async () => {
    await h?.close();
  });

  const post = (url: string, key: string, payload: Record<string, unknown> = {}) => h.app.inject({ method: 'POST', url, headers: auth(key), payload });
  const handoff = (shipmentId: string, secret: string, code: string) =>
    post(`/v1/shipments/${shipmentId}/handoff`, secret, { code, at: new Date().toISOString() });
  const wrongFor = (code: string) => (code === '000000' ? '000001' : '000000');
  const cancel = (shipmentId: string) => post(`/v1/shipments/${shipmentId}/cancel`, KEYS.logistics);
  const regenerate = (shipmentId: string) => post(`/v1/shipments/${shipmentId}/code/regenerate`, KEYS.storefront, { accountId: 'acc_ana' });

  async function sentCode(shipmentId: string, generation: number): Promise<string> {
    const msg = await eventually(() => h.tap.find((m) => m.data['dedupeKey'] === `delivery-otp:${shipmentId}:${generation}:sms`));
    return (msg.data['variables'] as Record<string, string>)['code'] as string;
  }

  async function shipment(courierId: string) {
    const secret = await courierSecret(h, courierId);
    const shipmentId = newShipmentId('cx');
    const body = outForDeliveryBody(shipmentId, courierId);
    const outForDelivery = async () => {
      const res = await post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, body);
      expect(res.statusCode).toBe(201);
    };
    await outForDelivery();
    return { shipmentId, secret, outForDelivery, code: await sentCode(shipmentId, 1) };
  }

  async function lock(shipmentId: string, secret: string, code: string) {
    for (let i = 0; i < 4; i++) expect((await handoff(shipmentId, secret, wrongFor(code))).statusCode).toBe(422);
    const locked = await handoff(shipmentId, secret, wrongFor(code));
    expect(locked.statusCode).toBe(423);
    expect(locked.json()).toMatchObject({ code: 'handoff_locked', attemptsRemaining: 0 });
  }

  it('keeps a lock: the new code is sent but refused at the door until the customer regenerates', async () => {
    const { shipmentId, secret, outForDelivery, code } = await shipment('cour_cx_lock');
    await lock(shipmentId, secret, code);
    expect((await cancel(shipmentId)).statusCode).toBe(200);
    await outForDelivery();
    const second = await sentCode(shipmentId, 2);

    const refused = await handoff(shipmentId, secret, second);
    expect(refused.statusCode).toBe(423);
    expect(refused.json()).toMatchObject({ code: 'handoff_locked', attemptsRemaining: 0 });
    const shown = await h.app.inject({ method: 'GET', url: `/v1/shipments/${shipmentId}/code?accountId=acc_ana`, headers: auth(KEYS.storefront) });
    expect(shown.json()).toMatchObject({ code: second, status: 'locked' });

    // The customer's regenerate is the way out, as before.
    expect((await regenerate(shipmentId)).statusCode).toBe(200);
    expect((await handoff(shipmentId, secret, await sentCode(shipmentId, 3))).statusCode).toBe(200);
  });

  it('keeps the spent attempts', async () => {
    const { shipmentId, secret, outForDelivery, code } = await shipment('cour_cx_spent');
    for (let i = 0; i < 3; i++) await handoff(shipmentId, secret, wrongFor(code));
    expect((await cancel(shipmentId)).statusCode).toBe(200);
    await outForDelivery();
    const second = await sentCode(shipmentId, 2);
    expect((await handoff(shipmentId, secret, wrongFor(second))).json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 1 });
    expect((await handoff(shipmentId, secret, second)).statusCode).toBe(200);
  });

  it('keeps the regeneration count: the cap holds across a cancel', async () => {
    const { shipmentId, outForDelivery } = await shipment('cour_cx_regens');
    expect((await regenerate(shipmentId)).statusCode).toBe(200);
    expect((await regenerate(shipmentId)).statusCode).toBe(200);
    expect((await cancel(shipmentId)).statusCode).toBe(200);
    await outForDelivery();
    const capped = await regenerate(shipmentId);
    expect(capped.statusCode).toBe(429);
    expect(capped.json()).toMatchObject({ code: 'rate_limited' });
  });

  it('counts regenerations on the row: a regenerate after Redis lost the live code is still capped', async () => {
    const { shipmentId } = await shipment('cour_cx_lost');
    expect((await regenerate(shipmentId)).statusCode).toBe(200);
    await dropRedisPrefix(h.prefix);
    // The store lost the code: a regenerate issues a fresh one, counted.
    expect((await regenerate(shipmentId)).statusCode).toBe(200);
    await sentCode(shipmentId, 3);
    await dropRedisPrefix(h.prefix);
    const capped = await regenerate(shipmentId);
    expect(capped.statusCode).toBe(429);
    expect(capped.json()).toMatchObject({ code: 'rate_limited' });
    expect(Number(capped.headers['retry-after'])).toBeGreaterThan(0);
    expect(h.tap.some((m) => m.data['dedupeKey'] === `delivery-otp:${shipmentId}:4:sms`)).toBe(false);
  });

  it('keeps a lock through the expiry or loss of its code without a cancel: the row mirrors each failed attempt', async () => {
    const { shipmentId, secret, code } = await shipment('cour_cx_expired');
    await lock(shipmentId, secret, code);
    // The code expired (PEXPIREAT) or Redis lost it; no cancel wrote anything to the row.
    await h.redis.del(codeKey(shipmentId));
    const later = outForDeliveryBody(shipmentId, 'cour_cx_expired', { window: windowAround(Date.now() + 60 * 60_000) });
    expect((await post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, later)).statusCode).toBe(201);
    const second = await sentCode(shipmentId, 2);
    const refused = await handoff(shipmentId, secret, wrongFor(second));
    expect(refused.statusCode).toBe(423);
    expect(refused.json()).toMatchObject({ code: 'handoff_locked', attemptsRemaining: 0 });
    expect((await handoff(shipmentId, secret, second)).statusCode).toBe(423);

    // The customer's regenerate still lifts it, and the row follows.
    expect((await regenerate(shipmentId)).statusCode).toBe(200);
    const third = await sentCode(shipmentId, 3);
    expect((await handoff(shipmentId, secret, wrongFor(third))).json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 4 });
    expect((await handoff(shipmentId, secret, third)).statusCode).toBe(200);
  });

  it('keeps the spent attempts through the loss of the code without a cancel', async () => {
    const { shipmentId, secret, outForDelivery, code } = await shipment('cour_cx_spent_lost');
    for (let i = 0; i < 3; i++) await handoff(shipmentId, secret, wrongFor(code));
    await h.redis.del(codeKey(shipmentId));
    await outForDelivery();
    const second = await sentCode(shipmentId, 2);
    expect((await handoff(shipmentId, secret, wrongFor(second))).json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 1 });
    expect((await handoff(shipmentId, secret, second)).statusCode).toBe(200);
  });

  it('keeps a lock through the loss of Redis, and a support unlock lifts it', async () => {
    const { shipmentId, secret, outForDelivery, code } = await shipment('cour_cx_redis');
    await lock(shipmentId, secret, code);
    expect((await cancel(shipmentId)).statusCode).toBe(200);
    // Redis restarted without its data: nothing of the shipment is left there.
    await dropRedisPrefix(h.prefix);
    expect(await h.redis.exists(codeKey(shipmentId))).toBe(0);
    await outForDelivery();
    const second = await sentCode(shipmentId, 2);
    expect((await handoff(shipmentId, secret, second)).statusCode).toBe(423);

    const unlocked = await post(`/v1/shipments/${shipmentId}/unlock`, KEYS.ops);
    expect(unlocked.statusCode).toBe(200);
    expect((await handoff(shipmentId, secret, wrongFor(second))).json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 4 });
    // An unlock also clears what the row carries: another cancel and issue start from the unlocked count.
    expect((await cancel(shipmentId)).statusCode).toBe(200);
    await dropRedisPrefix(h.prefix);
    await outForDelivery();
    const third = await sentCode(shipmentId, 3);
    expect((await handoff(shipmentId, secret, wrongFor(third))).json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 3 });
    expect((await handoff(shipmentId, secret, third)).statusCode).toBe(200);
  });
});
