import type { AddressInfo } from 'node:net';
import { eventually } from '@phonegate/platform/testing';
import { CodeStore } from '../../src/codes/code.store';
import { codeKey, revokeMarkerKey } from '../../src/codes/redis-code.store';
import { courierSecret, type Harness, KEYS, newShipmentId, OffsetClock, outForDeliveryBody, startHarness } from './harness';

jest.setTimeout(30_000);

/**
 * Redis lost a shipment's code (restarted or failed over without it; here the
 * key is deleted) while its row in PostgreSQL still awaits the handoff within
 * its window. Over HTTP on real PostgreSQL, Redis and RabbitMQ:
 * - the courier's handoff is not a 503 retried for ever: 423 `handoff_locked`
 *   with `reason: code_lost` (ask the customer for the new code), recorded;
 * - the customer's app (GET code) issues a new code, sent by SMS when the
 *   regenerate cap and cooldown allow, keeping the row's lock;
 * - no code opens the door but the new one, and a Redis command that times out
 *   (the key really there, or not) is 503 and retried, never taken for a loss.
 */
describe('a handoff code Redis lost', () => {
  let h: Harness;
  let base: string;

  beforeAll(async () => {
    h = await startHarness({ env: { LOG_LEVEL: 'info' } });
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(h.app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterEach(() => jest.restoreAllMocks());

  afterAll(async () => {
    await h?.close();
  });

  interface Answer {
    status: number;
    headers: Headers;
    body: Record<string, unknown>;
  }

  async function call(method: 'GET' | 'POST', path: string, key: string, payload?: Record<string, unknown>): Promise<Answer> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(payload ? { 'content-type': 'application/json' } : {}) },
      ...(payload ? { body: JSON.stringify(payload) } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  const handoff = (shipmentId: string, secret: string, code: string) =>
    call('POST', `/v1/shipments/${shipmentId}/handoff`, secret, { code, at: new Date().toISOString() });
  const show = (shipmentId: string, accountId = 'acc_ana') => call('GET', `/v1/shipments/${shipmentId}/code?accountId=${accountId}`, KEYS.storefront);
  const wrongFor = (code: string) => (code === '000000' ? '000001' : '000000');
  const smsOf = (shipmentId: string, generation: number) => h.tap.find((m) => m.data['dedupeKey'] === `delivery-otp:${shipmentId}:${generation}:sms`);
  const attempts = async (shipmentId: string) =>
    (await h.pg.query<{ outcome: string; reason: string | null }>('SELECT outcome, reason FROM handoff_attempts WHERE shipment_id = $1 ORDER BY received_at', [shipmentId])).rows;
  const row = async (shipmentId: string) =>
    (await h.pg.query<{ status: string; code_generation: number; regenerations: number; handoff_locked: boolean }>(
      'SELECT status, code_generation, regenerations, handoff_locked FROM shipments WHERE id = $1',
      [shipmentId],
    )).rows[0];

  async function sentCode(shipmentId: string, generation: number): Promise<string> {
    const msg = await eventually(() => smsOf(shipmentId, generation));
    return (msg.data['variables'] as Record<string, string>)['code'] as string;
  }

  async function shipment(courierId: string) {
    const secret = await courierSecret(h, courierId);
    const shipmentId = newShipmentId('lost');
    const res = await call('POST', `/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, outForDeliveryBody(shipmentId, courierId));
    expect(res.status).toBe(201);
    return { shipmentId, secret, code: await sentCode(shipmentId, 1) };
  }

  it('tells the courier to ask for the new code (423 code_lost, recorded), and the app shows a new code that opens the door', async () => {
    const { shipmentId, secret, code } = await shipment('cour_lost_1');
    await h.redis.del(codeKey(shipmentId));

    const refused = await handoff(shipmentId, secret, code);
    expect(refused.status).toBe(423);
    expect(refused.body).toMatchObject({ code: 'handoff_locked', attemptsRemaining: 0, reason: 'code_lost' });
    expect(refused.headers.get('retry-after')).toBeNull();
    expect(await attempts(shipmentId)).toEqual([{ outcome: 'refused_locked', reason: 'code_lost' }]);
    // No code passes while it is lost: neither the old one nor any other.
    expect((await handoff(shipmentId, secret, wrongFor(code))).status).toBe(423);

    // Two app screens at once: one new code, one SMS.
    const [first, second] = await Promise.all([show(shipmentId), show(shipmentId)]);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'awaiting_handoff', expiresAt: expect.any(String) });
    expect(second.body['code']).toBe(first.body['code']);
    const fresh = first.body['code'] as string;
    expect(await sentCode(shipmentId, 2)).toBe(fresh);
    expect(await row(shipmentId)).toMatchObject({ status: 'awaiting_handoff', code_generation: 2, regenerations: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(smsOf(shipmentId, 3)).toBeUndefined();
    expect((await show(shipmentId)).body['code']).toBe(fresh);

    // The old code does not open the door (a wrong code, counted); the new one does.
    if (fresh !== code) expect((await handoff(shipmentId, secret, code)).body).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 4 });
    const ok = await handoff(shipmentId, secret, fresh);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'handed_off' });
    expect(h.logs.text()).not.toContain(fresh);
  });

  it('keeps the lock on the row: the app shows the new code as locked, sends nothing, and the customer regenerates', async () => {
    const { shipmentId, secret, code } = await shipment('cour_lost_lock');
    for (let i = 0; i < 5; i++) await handoff(shipmentId, secret, wrongFor(code));
    expect(await row(shipmentId)).toMatchObject({ handoff_locked: true });
    await h.redis.del(codeKey(shipmentId));

    expect((await handoff(shipmentId, secret, code)).body).toMatchObject({ code: 'handoff_locked', reason: 'code_lost' });
    const shown = await show(shipmentId);
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ status: 'locked' });
    const fresh = shown.body['code'] as string;
    expect(await row(shipmentId)).toMatchObject({ code_generation: 2, regenerations: 0, handoff_locked: true });
    // Showing is no way round the lock.
    const locked = await handoff(shipmentId, secret, fresh);
    expect(locked.status).toBe(423);
    expect(locked.body).toMatchObject({ code: 'handoff_locked', attemptsRemaining: 0 });
    expect(locked.body['reason']).toBeUndefined();
    await new Promise((r) => setTimeout(r, 300));
    expect(smsOf(shipmentId, 2)).toBeUndefined();

    expect((await call('POST', `/v1/shipments/${shipmentId}/code/regenerate`, KEYS.storefront, { accountId: 'acc_ana' })).status).toBe(200);
    expect((await handoff(shipmentId, secret, await sentCode(shipmentId, 3))).status).toBe(200);
  });

  it('counts a hash left without a code state as lost, as the check does (not a 503 for ever)', async () => {
    const { shipmentId, secret, code } = await shipment('cour_lost_stray');
    await h.redis.del(codeKey(shipmentId));
    await h.redis.hset(codeKey(shipmentId), 'chgUnlock', 'stray-token');
    expect((await handoff(shipmentId, secret, code)).body).toMatchObject({ code: 'handoff_locked', reason: 'code_lost' });
    const shown = await show(shipmentId);
    expect(shown.status).toBe(200);
    expect((await handoff(shipmentId, secret, shown.body['code'] as string)).status).toBe(200);
  });

  it('shows the code it issued for a lost one even when a regenerate writes the store right after (read under the lock, no 404)', async () => {
    const { shipmentId } = await shipment('cour_lost_regen_race');
    await h.redis.del(codeKey(shipmentId));
    const store = h.app.get(CodeStore);
    const realGet = store.get.bind(store);
    const realRegenerate = store.regenerate.bind(store);
    let regenerateWrote!: () => void;
    const wrote = new Promise<void>((resolve) => (regenerateWrote = resolve));
    let releaseRegenerate!: () => void;
    const released = new Promise<void>((resolve) => (releaseRegenerate = resolve));
    // The regenerate stops between its store write and its commit.
    jest.spyOn(store, 'regenerate').mockImplementation(async (id, next) => {
      const result = await realRegenerate(id, next);
      if (id === shipmentId) {
        regenerateWrote();
        await released;
      }
      return result;
    });
    // The display's second read of the store (after its replacement): a regenerate comes first
    // if it can (it cannot while the display holds the shipment's lock).
    let reads = 0;
    let regenerating: Promise<Answer> | undefined;
    jest.spyOn(store, 'get').mockImplementation(async (id) => {
      if (id === shipmentId && ++reads === 2) {
        regenerating = call('POST', `/v1/shipments/${shipmentId}/code/regenerate`, KEYS.storefront, { accountId: 'acc_ana' });
        await Promise.race([wrote, new Promise((r) => setTimeout(r, 1_000))]);
      }
      return realGet(id);
    });

    const shown = await show(shipmentId);
    releaseRegenerate();
    expect(shown.status).toBe(200);
    expect(shown.body['code']).toBe(await sentCode(shipmentId, 2));
    expect(regenerating).toBeDefined();
    expect((await regenerating)?.status).toBe(200);
    expect(await row(shipmentId)).toMatchObject({ code_generation: 3 });
  });

  it('counts a code the app issued for a lost one as replaced_lost, not as a customer regenerate', async () => {
    const issued = async (reason: string) => {
      const text = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
      const line = text.split('\n').find((l) => l.startsWith(`delivery_codes_issued_total{`) && l.includes(`reason="${reason}"`));
      return line ? Number(line.split(' ').pop()) : 0;
    };
    const { shipmentId } = await shipment('cour_lost_metric');
    await h.redis.del(codeKey(shipmentId));
    const [regeneratedBefore, replacedBefore] = [await issued('regenerated'), await issued('replaced_lost')];
    expect((await show(shipmentId)).status).toBe(200);
    expect(await issued('replaced_lost')).toBe(replacedBefore + 1);
    expect(await issued('regenerated')).toBe(regeneratedBefore);
    // The customer's own regenerate is still counted as one.
    expect((await call('POST', `/v1/shipments/${shipmentId}/code/regenerate`, KEYS.storefront, { accountId: 'acc_ana' })).status).toBe(200);
    expect(await issued('regenerated')).toBe(regeneratedBefore + 1);
  });

  it('answers another account 403 and issues nothing for it', async () => {
    const { shipmentId } = await shipment('cour_lost_acct');
    await h.redis.del(codeKey(shipmentId));
    expect((await show(shipmentId, 'acc_mallory')).status).toBe(403);
    expect(await h.redis.exists(codeKey(shipmentId))).toBe(0);
    expect(await row(shipmentId)).toMatchObject({ code_generation: 1 });
  });

  it('waits for a code a failed cancel is bringing back (its revoke marker): 503 Retry-After 1, nothing issued or recorded', async () => {
    const { shipmentId, secret, code } = await shipment('cour_lost_marker');
    const sealed = await h.redis.hgetall(codeKey(shipmentId));
    await h.redis.del(codeKey(shipmentId));
    await h.redis.set(revokeMarkerKey(shipmentId), 'a-pending-revoke', 'PX', 60_000);

    for (const answer of [await handoff(shipmentId, secret, code), await show(shipmentId)]) {
      expect(answer.status).toBe(503);
      expect(answer.body).toMatchObject({ code: 'service_unavailable' });
      expect(answer.headers.get('retry-after')).toBe('1');
    }
    expect(await attempts(shipmentId)).toEqual([]);
    expect(await row(shipmentId)).toMatchObject({ code_generation: 1 });

    // The undo puts the code back: the retry is checked as usual.
    await h.redis.hset(codeKey(shipmentId), sealed);
    await h.redis.del(revokeMarkerKey(shipmentId));
    expect((await handoff(shipmentId, secret, code)).status).toBe(200);
  });

  it('waits at most 5 minutes for a cancel that crashed between its revoke and its commit, then counts the code lost', async () => {
    const { shipmentId, secret, code } = await shipment('cour_lost_crash');
    // The cancel's revoke ran; its process died before the commit (no revert will come).
    expect((await h.app.get(CodeStore).revoke(shipmentId)).verdict).toBe('ok');
    const ttl = await h.redis.pttl(revokeMarkerKey(shipmentId));
    expect(ttl).toBeGreaterThan(290_000);
    expect(ttl).toBeLessThanOrEqual(300_000);
    expect((await handoff(shipmentId, secret, code)).status).toBe(503);

    // The marker's 5 minutes are over.
    await h.redis.del(revokeMarkerKey(shipmentId));
    expect((await handoff(shipmentId, secret, code)).body).toMatchObject({ code: 'handoff_locked', reason: 'code_lost' });
    const shown = await show(shipmentId);
    expect(shown.status).toBe(200);
    expect((await handoff(shipmentId, secret, shown.body['code'] as string)).status).toBe(200);
  });

  it('is 503 and retried, not a loss, when the check times out while the code is there', async () => {
    const { shipmentId, secret, code } = await shipment('cour_lost_blip');
    jest.spyOn(h.redis as unknown as Record<string, () => Promise<unknown>>, 'deliveryOtpHandoff').mockRejectedValueOnce(new Error('Command timed out'));
    const blip = await handoff(shipmentId, secret, code);
    expect(blip.status).toBe(503);
    expect(blip.headers.get('retry-after')).toBe('1');
    expect(await attempts(shipmentId)).toEqual([]);
    expect((await handoff(shipmentId, secret, code)).status).toBe(200);
  });

  it('is 503, not a loss, when asking Redis whether the code is lost times out', async () => {
    const { shipmentId, secret, code } = await shipment('cour_lost_blip2');
    const sealed = await h.redis.hgetall(codeKey(shipmentId));
    await h.redis.del(codeKey(shipmentId));
    const timingOut = () => {
      const chain = { hexists: () => chain, exists: () => chain, exec: () => Promise.reject(new Error('Command timed out')) };
      return chain as never;
    };
    jest.spyOn(h.redis, 'multi').mockImplementationOnce(timingOut);
    const blip = await handoff(shipmentId, secret, code);
    expect(blip.status).toBe(503);
    expect(blip.headers.get('retry-after')).toBe('1');
    expect(await attempts(shipmentId)).toEqual([]);

    jest.spyOn(h.redis, 'multi').mockImplementationOnce(timingOut);
    expect((await show(shipmentId)).status).toBe(503);
    jest.spyOn(h.redis, 'hgetall').mockRejectedValueOnce(new Error('Command timed out'));
    expect((await show(shipmentId)).status).toBe(503);
    expect(await row(shipmentId)).toMatchObject({ code_generation: 1 });
    expect(await h.redis.exists(codeKey(shipmentId))).toBe(0);

    // The key was there after all (the blip hid it): back, the code works.
    await h.redis.hset(codeKey(shipmentId), sealed);
    expect((await handoff(shipmentId, secret, code)).status).toBe(200);
  });
});

describe('a handoff code Redis lost, within the regenerate cooldown', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ env: { LOG_LEVEL: 'warn', DELIVERY_REGENERATE_COOLDOWN: '30s' } });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('shows a new code in the app without sending it (no send is due), and the cooldown still runs from the last send', async () => {
    const courierId = 'cour_lost_cool';
    const secret = await courierSecret(h, courierId);
    const shipmentId = newShipmentId('lostcool');
    const issued = await h.app.inject({
      method: 'POST',
      url: `/v1/shipments/${shipmentId}/out-for-delivery`,
      headers: { authorization: `Bearer ${KEYS.logistics}` },
      payload: outForDeliveryBody(shipmentId, courierId),
    });
    expect(issued.statusCode).toBe(201);
    await eventually(() => h.tap.find((m) => m.data['dedupeKey'] === `delivery-otp:${shipmentId}:1:sms`));
    await h.redis.del(codeKey(shipmentId));

    const shown = await h.app.inject({ method: 'GET', url: `/v1/shipments/${shipmentId}/code?accountId=acc_ana`, headers: { authorization: `Bearer ${KEYS.storefront}` } });
    expect(shown.statusCode).toBe(200);
    const fresh = shown.json<{ code: string; status: string }>();
    expect(fresh.status).toBe('awaiting_handoff');
    const regenerated = await h.app.inject({
      method: 'POST',
      url: `/v1/shipments/${shipmentId}/code/regenerate`,
      headers: { authorization: `Bearer ${KEYS.storefront}` },
      payload: { accountId: 'acc_ana' },
    });
    expect(regenerated.statusCode).toBe(429);
    expect(regenerated.json()).toMatchObject({ code: 'resend_cooldown' });
    expect(Number(regenerated.headers['retry-after'])).toBeGreaterThan(20);
    await new Promise((r) => setTimeout(r, 500));
    expect(h.tap.some((m) => m.data['dedupeKey'] === `delivery-otp:${shipmentId}:2:sms`)).toBe(false);
    // The storefront hears of the new code, and that it was not sent (nothing to tell the customer).
    const issuedEvents = await eventually(() => {
      const found = h.tap.filter((m) => m.envelope.type === 'delivery.handoff.code_issued.v1' && m.data['shipmentId'] === shipmentId);
      return found.length === 2 ? found : undefined;
    });
    expect(issuedEvents.map((m) => m.data['sent'])).toEqual([true, false]);
    const row = await h.pg.query('SELECT code_generation, regenerations FROM shipments WHERE id = $1', [shipmentId]);
    expect(row.rows).toEqual([{ code_generation: 2, regenerations: 0 }]);
    const ok = await h.app.inject({
      method: 'POST',
      url: `/v1/shipments/${shipmentId}/handoff`,
      headers: { authorization: `Bearer ${secret}` },
      payload: { code: fresh.code, at: new Date().toISOString() },
    });
    expect(ok.statusCode).toBe(200);
  });
});

/**
 * The time rules come before the store's loss, and the boundaries agree: no
 * code is issued after the window's end (README "Handoff time rule"), so a code
 * lost during the grace period can no longer be replaced; the courier is told
 * so (410), not sent to an app that shows nothing.
 */
describe('a handoff code Redis lost, and the time rules', () => {
  let h: Harness;
  const clock = new OffsetClock();

  beforeAll(async () => {
    h = await startHarness({ env: { LOG_LEVEL: 'warn' }, clock });
  });

  afterEach(() => {
    clock.offsetMs = 0;
  });

  afterAll(async () => {
    await h?.close();
  });

  const handoff = (id: string, secret: string, code: string, atMs: number) =>
    h.app.inject({ method: 'POST', url: `/v1/shipments/${id}/handoff`, headers: { authorization: `Bearer ${secret}` }, payload: { code, at: new Date(atMs).toISOString() } });
  const attempts = async (id: string) =>
    (await h.pg.query<{ outcome: string; reason: string | null }>('SELECT outcome, reason FROM handoff_attempts WHERE shipment_id = $1 ORDER BY received_at', [id])).rows;

  /** A shipment whose window ends in an hour, its code lost. */
  async function lostShipment(courierId: string) {
    const secret = await courierSecret(h, courierId);
    const id = newShipmentId('lostgrace');
    const res = await h.app.inject({ method: 'POST', url: `/v1/shipments/${id}/out-for-delivery`, headers: { authorization: `Bearer ${KEYS.logistics}` }, payload: outForDeliveryBody(id, courierId) });
    expect(res.statusCode).toBe(201);
    const msg = await eventually(() => h.tap.find((m) => m.data['dedupeKey'] === `delivery-otp:${id}:1:sms`));
    await h.redis.del(codeKey(id));
    return { id, secret, code: (msg.data['variables'] as Record<string, string>)['code'] as string, windowEndMs: new Date((outForDeliveryBody(id, courierId)['window'] as { end: string }).end).getTime() };
  }

  it('refuses what the time rules refuse with 410 and their reason, not 423 code_lost', async () => {
    const s = await lostShipment('cour_lost_time');
    const ahead = await handoff(s.id, s.secret, s.code, Date.now() + 10 * 60_000);
    expect(ahead.statusCode).toBe(410);
    expect(ahead.json()).toMatchObject({ code: 'window_closed', reason: 'device_clock_ahead' });

    // In the grace period, an online submission is outside the window.
    clock.offsetMs = 65 * 60_000;
    const late = await handoff(s.id, s.secret, s.code, clock.nowMs());
    expect(late.statusCode).toBe(410);
    expect(late.json()).toMatchObject({ code: 'window_closed', reason: 'outside_window' });
    expect(await attempts(s.id)).toEqual([
      { outcome: 'window_closed', reason: 'device_clock_ahead' },
      { outcome: 'window_closed', reason: 'outside_window' },
    ]);
  });

  it('answers a late submission the time rules accept, in the grace period, 410 (code_lost): no new code can be issued after the window', async () => {
    const s = await lostShipment('cour_lost_grace');
    const atMs = Date.now();
    clock.offsetMs = 65 * 60_000;
    const refused = await handoff(s.id, s.secret, s.code, atMs);
    expect(refused.statusCode).toBe(410);
    expect(refused.json()).toMatchObject({ code: 'window_closed', reason: 'code_lost' });
    expect(await attempts(s.id)).toEqual([{ outcome: 'window_closed', reason: 'code_lost' }]);
    // The app has nothing to show and the customer cannot regenerate: the same boundary.
    const shown = await h.app.inject({ method: 'GET', url: `/v1/shipments/${s.id}/code?accountId=acc_ana`, headers: { authorization: `Bearer ${KEYS.storefront}` } });
    expect(shown.statusCode).toBe(404);
    const regenerated = await h.app.inject({ method: 'POST', url: `/v1/shipments/${s.id}/code/regenerate`, headers: { authorization: `Bearer ${KEYS.storefront}` }, payload: { accountId: 'acc_ana' } });
    expect(regenerated.statusCode).toBe(410);

    // Within the window the same loss is 423 code_lost, as before.
    clock.offsetMs = 0;
    expect((await handoff(s.id, s.secret, s.code, Date.now())).json()).toMatchObject({ code: 'handoff_locked', reason: 'code_lost' });
  });
});
