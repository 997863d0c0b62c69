import { DomainError } from '@phonegate/platform';
import { eventually } from '@phonegate/platform/testing';
import { ShipmentLedger } from '../../src/persistence/shipment.ledger';
import { codeKey } from '../../src/codes/redis-code.store';
import { auth, courierSecret, type Harness, KEYS, newShipmentId, OffsetClock, outForDeliveryBody, startHarness } from './harness';

jest.setTimeout(30_000);

/**
 * Redis went back in time (a failover to a lagging replica, a restart from an
 * older snapshot): the code hash is an earlier copy, not gone. Its approval
 * is checked against the shipment's row (code generation, lock, status)
 * before anything is recorded: a code a regenerate killed, or the right code
 * of a shipment the row holds locked, does not hand the shipment off.
 */
describe('a code store rolled back to an earlier copy', () => {
  let h: Harness;
  const clock = new OffsetClock();

  beforeAll(async () => {
    h = await startHarness({ env: { LOG_LEVEL: 'warn' }, clock });
  });

  afterEach(() => {
    clock.offsetMs = 0;
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await h?.close();
  });

  const post = (url: string, key: string, payload: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
    h.app.inject({ method: 'POST', url, headers: { ...auth(key), ...headers }, payload });
  const handoff = (id: string, secret: string, code: string, headers: Record<string, string> = {}, atMs = clock.nowMs()) =>
    post(`/v1/shipments/${id}/handoff`, secret, { code, at: new Date(atMs).toISOString() }, headers);
  const show = (id: string) => h.app.inject({ method: 'GET', url: `/v1/shipments/${id}/code?accountId=acc_ana`, headers: auth(KEYS.storefront) });
  const wrongFor = (code: string) => (code === '000000' ? '000001' : '000000');
  const sent = async (id: string, generation: number) =>
    ((await eventually(() => h.tap.find((m) => m.data['dedupeKey'] === `delivery-otp:${id}:${generation}:sms`))).data['variables'] as Record<string, string>)[
      'code'
    ] as string;
  const row = async (id: string) =>
    (await h.pg.query('SELECT status, code_generation, handoff_locked, handed_off_at FROM shipments WHERE id = $1', [id])).rows[0] as Record<string, unknown>;
  const attempts = async (id: string) =>
    (await h.pg.query<{ outcome: string; reason: string | null }>('SELECT outcome, reason FROM handoff_attempts WHERE shipment_id = $1 ORDER BY received_at', [id])).rows;
  const confirmedEvents = (id: string) => h.tap.filter((m) => m.routingKey === 'delivery.handoff.confirmed.v1' && m.data['shipmentId'] === id);

  async function ship(courierId: string) {
    const secret = await courierSecret(h, courierId);
    const id = newShipmentId('rb');
    expect((await post(`/v1/shipments/${id}/out-for-delivery`, KEYS.logistics, outForDeliveryBody(id, courierId))).statusCode).toBe(201);
    return { id, secret, code: await sent(id, 1) };
  }

  /** Redis goes back to `snapshot` (the key's remaining life kept). */
  async function rollBack(id: string, snapshot: Record<string, string>) {
    const ttl = await h.redis.pttl(codeKey(id));
    await h.redis.del(codeKey(id));
    await h.redis.hset(codeKey(id), snapshot);
    await h.redis.pexpire(codeKey(id), ttl > 0 ? ttl : 3_600_000);
  }

  it('refuses the right code of a shipment the row holds locked (423 handoff_locked, recorded), and the stale copy is not used again', async () => {
    const s = await ship('cour_rb_lock');
    const snapshot = await h.redis.hgetall(codeKey(s.id));
    for (let i = 0; i < 5; i++) await handoff(s.id, s.secret, wrongFor(s.code));
    expect(await row(s.id)).toMatchObject({ handoff_locked: true, code_generation: 1 });
    await rollBack(s.id, snapshot);

    const refused = await handoff(s.id, s.secret, s.code);
    expect(refused.statusCode).toBe(423);
    expect(refused.json()).toMatchObject({ code: 'handoff_locked', attemptsRemaining: 0 });
    expect(await row(s.id)).toMatchObject({ status: 'awaiting_handoff', handed_off_at: null });
    expect((await attempts(s.id)).slice(5)).toEqual([{ outcome: 'refused_locked', reason: 'locked' }]);
    // The same code again: still refused (the stale copy is gone), never a 200 or a repair.
    expect((await handoff(s.id, s.secret, s.code)).statusCode).toBe(423);
    expect(await row(s.id)).toMatchObject({ status: 'awaiting_handoff' });

    // The app shows a code, still locked (the rollback is no way round the lock); the customer's regenerate lifts it.
    const shown = await show(s.id);
    expect(shown.statusCode).toBe(200);
    expect(shown.json()).toMatchObject({ status: 'locked' });
    expect((await post(`/v1/shipments/${s.id}/code/regenerate`, KEYS.storefront, { accountId: 'acc_ana' })).statusCode).toBe(200);
    const regenerated = await row(s.id);
    expect((await handoff(s.id, s.secret, await sent(s.id, Number(regenerated['code_generation'])))).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(confirmedEvents(s.id)).toHaveLength(1);
  });

  it('refuses a code a regenerate killed (423 code_lost, recorded); the app then shows a new code that opens the door', async () => {
    const s = await ship('cour_rb_regen');
    const snapshot = await h.redis.hgetall(codeKey(s.id));
    expect((await post(`/v1/shipments/${s.id}/code/regenerate`, KEYS.storefront, { accountId: 'acc_ana' })).statusCode).toBe(200);
    await sent(s.id, 2);
    await rollBack(s.id, snapshot);

    const refused = await handoff(s.id, s.secret, s.code, { 'idempotency-key': 'rb-killed-1' });
    expect(refused.statusCode).toBe(423);
    expect(refused.json()).toMatchObject({ code: 'handoff_locked', attemptsRemaining: 0, reason: 'code_lost' });
    expect(await row(s.id)).toMatchObject({ status: 'awaiting_handoff', code_generation: 2, handed_off_at: null });
    expect(await attempts(s.id)).toEqual([{ outcome: 'refused_locked', reason: 'code_lost' }]);
    expect((await handoff(s.id, s.secret, s.code)).json()).toMatchObject({ code: 'handoff_locked', reason: 'code_lost' });

    const shown = await show(s.id);
    expect(shown.statusCode).toBe(200);
    const fresh = shown.json<{ code: string }>().code;
    expect(await row(s.id)).toMatchObject({ code_generation: 3 });
    const ok = await handoff(s.id, s.secret, fresh);
    expect(ok.statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(confirmedEvents(s.id)).toHaveLength(1);
    expect(h.logs.text()).not.toContain(fresh);
  });

  it('the app replaces a rolled-back code it is asked for (no 404), and the killed code then fails', async () => {
    const s = await ship('cour_rb_show');
    const snapshot = await h.redis.hgetall(codeKey(s.id));
    expect((await post(`/v1/shipments/${s.id}/code/regenerate`, KEYS.storefront, { accountId: 'acc_ana' })).statusCode).toBe(200);
    await sent(s.id, 2);
    await rollBack(s.id, snapshot);

    const shown = await show(s.id);
    expect(shown.statusCode).toBe(200);
    const fresh = shown.json<{ code: string }>().code;
    expect(await row(s.id)).toMatchObject({ code_generation: 3 });
    if (fresh !== s.code) expect((await handoff(s.id, s.secret, s.code)).statusCode).toBe(422);
    expect((await handoff(s.id, s.secret, fresh)).statusCode).toBe(200);
  });

  it('does not hand off a cancelled shipment whose code came back (410 cancelled)', async () => {
    const s = await ship('cour_rb_cancel');
    const snapshot = await h.redis.hgetall(codeKey(s.id));
    expect((await post(`/v1/shipments/${s.id}/cancel`, KEYS.logistics)).statusCode).toBe(200);
    await rollBack(s.id, snapshot);

    const refused = await handoff(s.id, s.secret, s.code);
    expect(refused.statusCode).toBe(410);
    expect(refused.json()).toMatchObject({ code: 'window_closed', reason: 'cancelled' });
    expect(await row(s.id)).toMatchObject({ status: 'cancelled', handed_off_at: null });
    expect(await h.redis.exists(codeKey(s.id))).toBe(0);
  });

  it('answers a killed code approved in the grace period 410 code_lost (no new code can be issued after the window)', async () => {
    const s = await ship('cour_rb_grace');
    const snapshot = await h.redis.hgetall(codeKey(s.id));
    expect((await post(`/v1/shipments/${s.id}/code/regenerate`, KEYS.storefront, { accountId: 'acc_ana' })).statusCode).toBe(200);
    await sent(s.id, 2);
    await rollBack(s.id, snapshot);

    // An offline device's late submission (its time inside the window), arriving in the grace period.
    const atMs = Date.now();
    clock.offsetMs = 65 * 60_000;
    const refused = await handoff(s.id, s.secret, s.code, {}, atMs);
    expect(refused.statusCode).toBe(410);
    expect(refused.json()).toMatchObject({ code: 'window_closed', reason: 'code_lost' });
    expect(await attempts(s.id)).toEqual([{ outcome: 'window_closed', reason: 'code_lost' }]);
    expect(await row(s.id)).toMatchObject({ status: 'awaiting_handoff', handed_off_at: null });
  });

  it('answers the current code checked against an older copy 423 code_lost (not 422, not counted), drops the copy, and the app repairs it', async () => {
    const s = await ship('cour_rb_current');
    const snapshot = await h.redis.hgetall(codeKey(s.id));
    expect((await post(`/v1/shipments/${s.id}/code/regenerate`, KEYS.storefront, { accountId: 'acc_ana' })).statusCode).toBe(200);
    const current = await sent(s.id, 2);
    await rollBack(s.id, snapshot);

    // The courier types the code the customer has now; the store holds only the one before it.
    const candidate = current === s.code ? wrongFor(s.code) : current;
    const refused = await handoff(s.id, s.secret, candidate);
    expect(refused.statusCode).toBe(423);
    expect(refused.json()).toMatchObject({ code: 'handoff_locked', attemptsRemaining: 0, reason: 'code_lost' });
    expect(await attempts(s.id)).toEqual([{ outcome: 'refused_locked', reason: 'code_lost' }]);
    expect(await h.redis.exists(codeKey(s.id))).toBe(0);
    expect(await row(s.id)).toMatchObject({ code_generation: 2, handoff_locked: false });
    await new Promise((r) => setTimeout(r, 300));
    expect(h.tap.filter((m) => m.routingKey === 'delivery.handoff.failed_attempt.v1' && m.data['shipmentId'] === s.id)).toHaveLength(0);

    const shown = await show(s.id);
    expect(shown.statusCode).toBe(200);
    expect((await handoff(s.id, s.secret, shown.json<{ code: string }>().code)).statusCode).toBe(200);
  });

  it('still counts a wrong code against the current code as a mismatch (422)', async () => {
    const s = await ship('cour_rb_wrong');
    const wrong = await handoff(s.id, s.secret, wrongFor(s.code));
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 4 });
    expect(await attempts(s.id)).toEqual([{ outcome: 'code_mismatch', reason: null }]);
    expect((await handoff(s.id, s.secret, s.code)).statusCode).toBe(200);
  });

  it('refuses the repair of a stale approval whose record failed: the next request gets 423 code_lost, nothing is handed off', async () => {
    const s = await ship('cour_rb_repair');
    const snapshot = await h.redis.hgetall(codeKey(s.id));
    expect((await post(`/v1/shipments/${s.id}/code/regenerate`, KEYS.storefront, { accountId: 'acc_ana' })).statusCode).toBe(200);
    await sent(s.id, 2);
    await rollBack(s.id, snapshot);
    const ledger = h.app.get(ShipmentLedger);
    const original = ledger.transaction.bind(ledger);
    let failures = 0;
    jest.spyOn(ledger, 'transaction').mockImplementation((id, options, work) => {
      if (id === s.id && failures === 0) {
        failures++;
        return Promise.reject(new DomainError('service_unavailable', 'database down (injected)', {}, true));
      }
      return original(id, options, work);
    });

    // The store approves the killed code and marks the copy handed off; its record fails.
    expect((await handoff(s.id, s.secret, s.code, { 'idempotency-key': 'rb-repair-1' })).statusCode).toBe(503);
    expect(await h.redis.hget(codeKey(s.id), 'state')).toBe('handed_off');
    const next = await handoff(s.id, s.secret, s.code, { 'idempotency-key': 'rb-repair-2' });
    expect(next.statusCode).toBe(423);
    expect(next.json()).toMatchObject({ code: 'handoff_locked', reason: 'code_lost' });
    expect(await attempts(s.id)).toEqual([{ outcome: 'refused_locked', reason: 'code_lost' }]);
    expect(await row(s.id)).toMatchObject({ status: 'awaiting_handoff', handed_off_at: null });
    expect(await h.redis.exists(codeKey(s.id))).toBe(0);
    // The approved request retried is refused too.
    expect((await handoff(s.id, s.secret, s.code, { 'idempotency-key': 'rb-repair-1' })).statusCode).toBe(423);
    expect(confirmedEvents(s.id)).toHaveLength(0);
  });
});
