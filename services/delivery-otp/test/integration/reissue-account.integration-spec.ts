import { randomUUID } from 'node:crypto';
import { shipmentOutForDeliveryV1 } from '@phonegate/contracts';
import type { Bus } from '@phonegate/messaging';
import { DomainError } from '@phonegate/platform';
import { eventually } from '@phonegate/platform/testing';
import { CodeStore, type NewCode } from '../../src/codes/code.store';
import { codeKey } from '../../src/codes/redis-code.store';
import { ShipmentLedger } from '../../src/persistence/shipment.ledger';
import { CodeVault } from '../../src/shipments/code-vault';
import { auth, type Harness, KEYS, logisticsBus, startHarness, windowAround } from './harness';

jest.setTimeout(30_000);

/**
 * A shipment going out for delivery again (logistics re-sending, maybe for
 * another account, contact or window) leaves one consistent state: a code
 * only the shipment's current account can read, and a lock or a spent
 * attempt count that only the customer's regenerate or a support unlock
 * lifts. Nothing an earlier issue left behind stays usable or readable.
 */
describe('out for delivery again for another account', () => {
  let h: Harness;
  let logistics: Bus;
  let seq = 0;

  beforeAll(async () => {
    h = await startHarness();
    logistics = await logisticsBus(h);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await logistics?.close();
    await h?.close();
  });

  const post = (url: string, key: string, payload: Record<string, unknown> = {}) => h.app.inject({ method: 'POST', url, headers: auth(key), payload });
  const show = (shipmentId: string, accountId: string) =>
    h.app.inject({ method: 'GET', url: `/v1/shipments/${shipmentId}/code?accountId=${accountId}`, headers: auth(KEYS.storefront) });
  const handoff = (shipmentId: string, secret: string, code: string) =>
    post(`/v1/shipments/${shipmentId}/handoff`, secret, { code, at: new Date().toISOString() });
  const wrongFor = (code: string) => (code === '000000' ? '000001' : '000000');

  const ana = { accountId: 'acc_ana', contact: { phone: '+14155550123', email: 'ana@example.com' } };
  const bob = { accountId: 'acc_bob', contact: { phone: '+14155550177', email: 'bob@example.com' } };

  async function shipment(courierId: string) {
    const dev = await post(`/v1/couriers/${courierId}/devices`, KEYS.ops, {});
    expect(dev.statusCode).toBe(201);
    const shipmentId = `shp_re_${++seq}_${Date.now().toString(36)}`;
    const order = { orderId: `ord_${shipmentId}`, courierId, window: windowAround(Date.now()) };
    const res = await post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, { ...order, ...ana });
    expect(res.statusCode).toBe(201);
    return { shipmentId, order, secret: dev.json<{ secret: string }>().secret, code: await sentCode(shipmentId, 1) };
  }

  /** The code of `generation` as the notifier got it by SMS, and the number it went to. */
  async function sms(shipmentId: string, generation: number) {
    const msg = await eventually(() => h.tap.find((m) => m.data['dedupeKey'] === `delivery-otp:${shipmentId}:${generation}:sms`));
    return { code: (msg.data['variables'] as Record<string, string>)['code'] as string, to: msg.data['to'] };
  }
  const sentCode = async (shipmentId: string, generation: number) => (await sms(shipmentId, generation)).code;

  async function lock(shipmentId: string, secret: string, code: string, times = 5) {
    for (let i = 0; i < times; i++) await handoff(shipmentId, secret, wrongFor(code));
  }

  /** Every key under this test's Redis prefix that belongs to the shipment. */
  async function liveKeys(shipmentId: string): Promise<string[]> {
    const keys = await h.redis.keys(`${h.prefix}*${shipmentId}*`);
    return keys.map((k) => k.slice(h.prefix.length)).sort();
  }
  const live = (shipmentId: string) => h.redis.hmget(codeKey(shipmentId), 'acct', 'state', 'attempts', 'gen');

  async function row(shipmentId: string) {
    const rows = await h.pg.query<{ account_id: string; phone: string; status: string; code_generation: number }>(
      'SELECT account_id, phone, status, code_generation FROM shipments WHERE id = $1',
      [shipmentId],
    );
    return rows.rows[0];
  }

  it('keeps a locked handoff locked: the old code dies for the old account, the new account gets a locked code until it regenerates', async () => {
    const { shipmentId, order, secret, code: first } = await shipment('cour_re_lock');
    await lock(shipmentId, secret, first);
    expect((await handoff(shipmentId, secret, first)).statusCode).toBe(423);

    const again = await post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, { ...order, ...bob });
    expect(again.statusCode).toBe(201);
    const second = await sms(shipmentId, 2);
    expect(second.to).toBe(bob.contact.phone);

    // The old account can neither read a code nor have its old code accepted; the lock still holds.
    expect((await show(shipmentId, ana.accountId)).statusCode).toBe(403);
    const shown = await show(shipmentId, bob.accountId);
    expect(shown.statusCode).toBe(200);
    expect(shown.json()).toMatchObject({ code: second.code, status: 'locked' });
    expect((await handoff(shipmentId, secret, first)).json()).toMatchObject({ code: 'handoff_locked', attemptsRemaining: 0 });
    expect((await handoff(shipmentId, secret, second.code)).json()).toMatchObject({ code: 'handoff_locked', attemptsRemaining: 0 });

    // One code in Redis, owned by the account the shipment row names.
    expect(await liveKeys(shipmentId)).toEqual([codeKey(shipmentId)]);
    expect(await live(shipmentId)).toEqual([bob.accountId, 'locked', '5', '2']);
    expect(await row(shipmentId)).toEqual({ account_id: bob.accountId, phone: bob.contact.phone, status: 'awaiting_handoff', code_generation: 2 });

    // Only the new account's explicit regenerate lifts the lock.
    expect((await post(`/v1/shipments/${shipmentId}/code/regenerate`, KEYS.storefront, { accountId: ana.accountId })).statusCode).toBe(403);
    const regen = await post(`/v1/shipments/${shipmentId}/code/regenerate`, KEYS.storefront, { accountId: bob.accountId });
    expect(regen.statusCode).toBe(200);
    const third = await sms(shipmentId, 3);
    expect(third.to).toBe(bob.contact.phone);
    expect((await show(shipmentId, bob.accountId)).json()).toMatchObject({ code: third.code, status: 'awaiting_handoff' });
    expect((await handoff(shipmentId, secret, third.code)).statusCode).toBe(200);
  });

  it('not locked: the new account gets a new code, the old one stops and is unreadable, and the wrong attempts count on', async () => {
    const { shipmentId, order, secret, code: first } = await shipment('cour_re_open');
    await lock(shipmentId, secret, first, 3);

    const again = await post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, { ...order, ...bob });
    expect(again.statusCode).toBe(201);
    expect(again.json()).toMatchObject({ shipmentId, status: 'awaiting_handoff' });
    const second = await sentCode(shipmentId, 2);

    expect((await show(shipmentId, ana.accountId)).statusCode).toBe(403);
    expect((await show(shipmentId, bob.accountId)).json()).toMatchObject({ code: second, status: 'awaiting_handoff' });
    expect(await live(shipmentId)).toEqual([bob.accountId, 'awaiting_handoff', '3', '2']);
    // The re-issue gave no fresh set of attempts: one more wrong code leaves one.
    const old = await handoff(shipmentId, secret, second === first ? wrongFor(second) : first);
    expect(old.statusCode).toBe(422);
    expect(old.json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 1 });
    expect((await handoff(shipmentId, secret, second)).statusCode).toBe(200);
    expect((await show(shipmentId, bob.accountId)).statusCode).toBe(404);
  });

  it('for the same account, keeps the code and the lock, and takes the new contact and window', async () => {
    const { shipmentId, order, secret, code } = await shipment('cour_re_same');
    await lock(shipmentId, secret, code);
    const window = windowAround(Date.now(), 30, 180);
    const again = await post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, { ...order, window, ...ana, contact: bob.contact });
    expect(again.statusCode).toBe(201);
    expect((await show(shipmentId, ana.accountId)).json()).toMatchObject({ code, status: 'locked' });
    expect((await handoff(shipmentId, secret, code)).statusCode).toBe(423);
    expect(await row(shipmentId)).toMatchObject({ account_id: ana.accountId, phone: bob.contact.phone, code_generation: 1 });
    expect(h.tap.filter((m) => m.data['dedupeKey'] === `delivery-otp:${shipmentId}:2:sms`)).toHaveLength(0);
  });

  it('on shipment.out_for_delivery.v1 for another account during a lock: the lock holds until support unlocks', async () => {
    const { shipmentId, order, secret, code: first } = await shipment('cour_re_bus');
    await lock(shipmentId, secret, first);

    await logistics.events.publish(shipmentOutForDeliveryV1, { shipmentId, ...order, ...bob }, { id: randomUUID() });
    const second = await sentCode(shipmentId, 2);
    await eventually(async () => (await row(shipmentId))?.account_id === bob.accountId);
    expect((await show(shipmentId, ana.accountId)).statusCode).toBe(403);
    expect((await show(shipmentId, bob.accountId)).json()).toMatchObject({ code: second, status: 'locked' });
    expect((await handoff(shipmentId, secret, second)).statusCode).toBe(423);

    const unlocked = await post(`/v1/shipments/${shipmentId}/unlock`, KEYS.ops);
    expect(unlocked.json()).toMatchObject({ status: 'awaiting_handoff', attemptsRemaining: 5 });
    expect((await handoff(shipmentId, secret, second)).statusCode).toBe(200);
  });

  it('never brings a code back for a shipment handed off while the re-issue waited: 409, nothing readable', async () => {
    const { shipmentId, order, secret, code } = await shipment('cour_re_race');
    const store = h.app.get(CodeStore);
    const real = store.put.bind(store);
    let reached!: () => void;
    const atPut = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    jest.spyOn(store, 'put').mockImplementationOnce(async (next: NewCode) => {
      reached();
      await released;
      return real(next);
    });
    const again = post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, { ...order, ...bob });
    await atPut;
    // The courier hands off while the re-issue holds the shipment: Redis says yes, the record waits for the lock.
    const handedOff = handoff(shipmentId, secret, code);
    await eventually(async () => (await h.redis.hget(codeKey(shipmentId), 'state')) === 'handed_off');
    release();

    expect((await handedOff).statusCode).toBe(200);
    const answer = await again;
    expect(answer.statusCode).toBe(409);
    expect(answer.json()).toMatchObject({ code: 'already_handed_off' });
    expect((await show(shipmentId, bob.accountId)).statusCode).toBe(404);
    expect((await show(shipmentId, ana.accountId)).statusCode).toBe(404);
    expect(await row(shipmentId)).toMatchObject({ account_id: ana.accountId, status: 'handed_off', code_generation: 1 });
    await new Promise((r) => setTimeout(r, 500));
    expect(h.tap.filter((m) => m.data['dedupeKey'] === `delivery-otp:${shipmentId}:2:sms`)).toHaveLength(0);
  });

  const injected = () => new DomainError('service_unavailable', 'database down (injected)', {}, true);
  const out = (shipmentId: string, order: object, who: object) => post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, { ...order, ...who });
  const regenerate = (shipmentId: string, accountId: string) => post(`/v1/shipments/${shipmentId}/code/regenerate`, KEYS.storefront, { accountId });

  /** The next transaction on the ledger runs its work, then fails: rolled back (`rollback`) or after its commit went through (`committed`). */
  function failNextTransaction(how: 'rollback' | 'committed') {
    const ledger = h.app.get(ShipmentLedger);
    const original = ledger.transaction.bind(ledger);
    jest.spyOn(ledger, 'transaction').mockImplementationOnce((id, options, work) => {
      if (how === 'committed') return original(id, options, work).then(() => Promise.reject(injected()));
      return original(id, options, async (tx) => {
        await work(tx);
        // Everything ran; the transaction then rolls back as a failed commit would.
        throw injected();
      });
    });
  }

  type Who = typeof ana;
  /** The code the store holds is `code`, readable by `owner` only, in `state` with `attempts` spent, of `generation`. */
  async function expectHeld(shipmentId: string, owner: Who, other: Who, code: string, state: string, attempts: number, generation: number) {
    expect((await show(shipmentId, other.accountId)).statusCode).toBe(403);
    expect((await show(shipmentId, owner.accountId)).json()).toMatchObject({ code, status: state });
    expect(await live(shipmentId)).toEqual([owner.accountId, state, String(attempts), String(generation)]);
  }

  /** A re-issue to ana (row: ana, generation 1) left no readable or usable code, and the lock and attempts stayed. */
  async function expectWithdrawn(shipmentId: string, secret: string, first: string) {
    expect(await row(shipmentId)).toMatchObject({ account_id: ana.accountId, code_generation: 1 });
    expect((await show(shipmentId, bob.accountId)).statusCode).not.toBe(200);
    expect((await show(shipmentId, ana.accountId)).statusCode).not.toBe(200);
    expect(await h.redis.hmget(codeKey(shipmentId), 'state', 'attempts', 'sealed', 'hmac')).toEqual(['locked', '5', null, null]);
    expect((await handoff(shipmentId, secret, first)).statusCode).toBe(423);
  }

  /** Re-issues to bob (generation 2), then puts ana's generation-1 hash back: what an undo after a commit that went through left. */
  async function reissueLeavingTheOldCode(shipmentId: string, order: object) {
    const before = await h.redis.hgetall(codeKey(shipmentId));
    expect((await out(shipmentId, order, bob)).statusCode).toBe(201);
    await sentCode(shipmentId, 2);
    await h.redis.del(codeKey(shipmentId));
    await h.redis.hset(codeKey(shipmentId), before);
  }

  it('changes nothing when its commit fails: the old account keeps its code and the lock; the retry carries the lock', async () => {
    const { shipmentId, order, secret, code: first } = await shipment('cour_re_fail_commit');
    await lock(shipmentId, secret, first);
    failNextTransaction('rollback');
    expect((await out(shipmentId, order, bob)).statusCode).toBe(503);

    expect(await row(shipmentId)).toMatchObject({ account_id: ana.accountId, code_generation: 1 });
    await expectHeld(shipmentId, ana, bob, first, 'locked', 5, 1);
    expect((await handoff(shipmentId, secret, first)).statusCode).toBe(423);

    expect((await out(shipmentId, order, bob)).statusCode).toBe(201);
    const second = await sentCode(shipmentId, 2);
    await expectHeld(shipmentId, bob, ana, second, 'locked', 5, 2);
    expect((await handoff(shipmentId, secret, second)).statusCode).toBe(423);
  });

  it('leaves no usable code when the store applied the put but its answer was lost: the lock holds, the retry repairs', async () => {
    const { shipmentId, order, secret, code: first } = await shipment('cour_re_fail_put');
    await lock(shipmentId, secret, first);
    const store = h.app.get(CodeStore);
    const real = store.put.bind(store);
    jest.spyOn(store, 'put').mockImplementationOnce(async (next: NewCode) => {
      await real(next);
      throw new DomainError('service_unavailable', 'connection lost (injected)', {}, true);
    });
    expect((await out(shipmentId, order, bob)).statusCode).toBe(503);
    await expectWithdrawn(shipmentId, secret, first);

    // Logistics re-sending (for either account) repairs it; the lock carries over.
    expect((await out(shipmentId, order, ana)).statusCode).toBe(201);
    const second = await sms(shipmentId, 2);
    expect(second.to).toBe(ana.contact.phone);
    await expectHeld(shipmentId, ana, bob, second.code, 'locked', 5, 2);
  });

  it('withdraws the code when the row cannot be read after a failed commit: nothing readable, the lock holds, the retry repairs', async () => {
    const { shipmentId, order, secret, code: first } = await shipment('cour_re_unverified');
    await lock(shipmentId, secret, first);
    failNextTransaction('rollback');
    // The undo's own look at the row fails too (the database is gone).
    jest.spyOn(h.app.get(ShipmentLedger), 'transaction').mockImplementationOnce(() => Promise.reject(injected()));
    expect((await out(shipmentId, order, bob)).statusCode).toBe(503);
    await expectWithdrawn(shipmentId, secret, first);

    expect((await out(shipmentId, order, bob)).statusCode).toBe(201);
    await expectHeld(shipmentId, bob, ana, await sentCode(shipmentId, 2), 'locked', 5, 2);
  });

  it('keeps the new account\'s code when the commit went through but answered an error; the retry keeps it', async () => {
    const { shipmentId, order, secret, code: first } = await shipment('cour_re_committed');
    await lock(shipmentId, secret, first);
    failNextTransaction('committed');
    expect((await out(shipmentId, order, bob)).statusCode).toBe(503);

    expect(await row(shipmentId)).toMatchObject({ account_id: bob.accountId, code_generation: 2 });
    const second = await sms(shipmentId, 2);
    expect(second.to).toBe(bob.contact.phone);
    await expectHeld(shipmentId, bob, ana, second.code, 'locked', 5, 2);
    expect((await handoff(shipmentId, secret, first)).statusCode).toBe(423);

    expect((await out(shipmentId, order, bob)).statusCode).toBe(201);
    await expectHeld(shipmentId, bob, ana, second.code, 'locked', 5, 2);
    await new Promise((r) => setTimeout(r, 500));
    expect(h.tap.filter((m) => m.data['dedupeKey'] === `delivery-otp:${shipmentId}:3:sms`)).toHaveLength(0);
  });

  it('a retry for the account the row names repairs a store holding the previous account\'s code, keeping the lock', async () => {
    const { shipmentId, order, secret, code: first } = await shipment('cour_re_repair_old');
    await lock(shipmentId, secret, first);
    await reissueLeavingTheOldCode(shipmentId, order);

    expect((await out(shipmentId, order, bob)).statusCode).toBe(201);
    const third = await sms(shipmentId, 3);
    expect(third.to).toBe(bob.contact.phone);
    await expectHeld(shipmentId, bob, ana, third.code, 'locked', 5, 3);
    expect((await handoff(shipmentId, secret, first)).statusCode).toBe(423);
    expect(await row(shipmentId)).toMatchObject({ account_id: bob.accountId, code_generation: 3 });
  });

  it('a reschedule repairs a store holding a code the row does not name, keeping the lock', async () => {
    const { shipmentId, order, secret, code: first } = await shipment('cour_re_resched_repair');
    await lock(shipmentId, secret, first);
    await reissueLeavingTheOldCode(shipmentId, order);

    const moved = await post(`/v1/shipments/${shipmentId}/reschedule`, KEYS.logistics, { window: windowAround(Date.now(), 30, 120) });
    expect(moved.statusCode).toBe(200);
    const third = await sms(shipmentId, 3);
    expect(third.to).toBe(bob.contact.phone);
    await expectHeld(shipmentId, bob, ana, third.code, 'locked', 5, 3);
  });

  it('a retry for the account the row names repairs a store holding an unsent code of a crashed re-issue, keeping the lock', async () => {
    const { shipmentId, order, secret, code: first } = await shipment('cour_re_repair_crash');
    await lock(shipmentId, secret, first);
    // A replica put bob's generation 2 and died before its commit: the row still names ana, generation 1.
    const material = h.app.get(CodeVault).draw(shipmentId, null);
    const now = Date.now();
    await h.app.get(CodeStore).put({
      shipmentId,
      accountId: bob.accountId,
      courierId: order.courierId,
      windowStartMs: now - 60_000,
      windowEndMs: now + 3_600_000,
      expiresAtMs: now + 7_200_000,
      generation: 2,
      sealed: material.sealed,
      hmacKeyId: material.hmacKeyId,
      hmac: material.hmac,
    });
    // Not readable by the account it was for: the row does not name it.
    expect((await show(shipmentId, bob.accountId)).statusCode).toBe(404);
    expect((await show(shipmentId, ana.accountId)).statusCode).toBe(403);

    expect((await out(shipmentId, order, ana)).statusCode).toBe(201);
    const second = await sms(shipmentId, 2);
    expect(second.to).toBe(ana.contact.phone);
    await expectHeld(shipmentId, ana, bob, second.code, 'locked', 5, 2);
    expect((await handoff(shipmentId, secret, material.code)).statusCode).toBe(423);
  });

  describe('regenerate', () => {
    it('whose commit fails brings the sent code and its lock back; a retry regenerates', async () => {
      const { shipmentId, secret, code: first } = await shipment('cour_re_regen_fail');
      await lock(shipmentId, secret, first);
      failNextTransaction('rollback');
      expect((await regenerate(shipmentId, ana.accountId)).statusCode).toBe(503);

      expect(await row(shipmentId)).toMatchObject({ account_id: ana.accountId, code_generation: 1 });
      await expectHeld(shipmentId, ana, bob, first, 'locked', 5, 1);
      expect((await handoff(shipmentId, secret, first)).statusCode).toBe(423);

      expect((await regenerate(shipmentId, ana.accountId)).statusCode).toBe(200);
      const second = await sentCode(shipmentId, 2);
      await expectHeld(shipmentId, ana, bob, second, 'awaiting_handoff', 0, 2);
      expect((await handoff(shipmentId, secret, second)).statusCode).toBe(200);
    });

    it('whose commit went through but answered an error keeps the new code', async () => {
      const { shipmentId, secret, code: first } = await shipment('cour_re_regen_committed');
      await lock(shipmentId, secret, first);
      failNextTransaction('committed');
      expect((await regenerate(shipmentId, ana.accountId)).statusCode).toBe(503);

      expect(await row(shipmentId)).toMatchObject({ account_id: ana.accountId, code_generation: 2 });
      const second = await sentCode(shipmentId, 2);
      await expectHeld(shipmentId, ana, bob, second, 'awaiting_handoff', 0, 2);
      expect((await handoff(shipmentId, secret, second)).statusCode).toBe(200);
    });

    it('for the account the row names repairs a store holding another account\'s code', async () => {
      const { shipmentId, order, secret, code: first } = await shipment('cour_re_regen_repair');
      await reissueLeavingTheOldCode(shipmentId, order);

      expect((await regenerate(shipmentId, bob.accountId)).statusCode).toBe(200);
      const third = await sms(shipmentId, 3);
      expect(third.to).toBe(bob.contact.phone);
      await expectHeld(shipmentId, bob, ana, third.code, 'awaiting_handoff', 0, 3);
      expect((await handoff(shipmentId, secret, third.code === first ? wrongFor(first) : first)).statusCode).toBe(422);
      expect((await handoff(shipmentId, secret, third.code)).statusCode).toBe(200);
    });
  });
});
