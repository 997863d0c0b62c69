import { randomBytes, randomUUID } from 'node:crypto';
import { createRedis, DomainError, type Keyring, redisReady } from '@phonegate/platform';
import { dropRedisPrefix, redisPrefix, TEST_INFRA } from '@phonegate/platform/testing';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import type { CheckInput, NewCode } from '../../src/codes/code.store';
import { RedisCodeStore } from '../../src/codes/redis-code.store';
import { activeDigest, candidateDigests, sealCode, sealContext } from '../../src/handoff/handoff-code';
import { handoffTimeVerdict } from '../../src/handoff/handoff-time';

const MIN = 60_000;
const keys: Keyring = { activeKeyId: 'k1', keys: new Map([['k1', randomBytes(32)]]) };

const attemptOf = (shipmentId: string, code: string): CheckInput => ({
  shipmentId,
  courierId: 'cour_1',
  deviceId: 'dev_1',
  nowMs: Date.now(),
  atMs: Date.now(),
  toleranceMs: 2 * MIN,
  maxAttempts: 5,
  attemptId: randomUUID(),
  candidates: candidateDigests(keys, shipmentId, code),
});

/**
 * A code issued again for a shipment (another account) keeps its lock, spent
 * attempts and regenerations, is refused over a handoff, and restore() undoes
 * it; on real Redis and on the embedded mode's in-memory one (fengari).
 */
async function reissueStory(redis: Redis, store: RedisCodeStore): Promise<void> {
  const now = Date.now();
  // As text: the in-memory Redis keeps numbers a script wrote as numbers.
  const fields = async (key: string, ...names: string[]) => (await redis.hmget(key, ...names)).map((v) => (v === null ? v : String(v)));
  const hash = async (key: string) => Object.fromEntries(Object.entries(await redis.hgetall(key)).map(([k, v]) => [k, String(v)]));
  /** What the shipment's row names (a regenerate's owner; a put adds the code). */
  const owner = (accountId: string, generation: number) => ({
    accountId,
    courierId: 'cour_1',
    windowStartMs: now - 60 * MIN,
    windowEndMs: now + 60 * MIN,
    expiresAtMs: now + 90 * MIN,
    generation,
  });
  const fresh = (shipmentId: string, code: string, accountId: string, generation: number): NewCode => {
    const { kid, digest } = activeDigest(keys, shipmentId, code);
    return { shipmentId, ...owner(accountId, generation), sealed: sealCode(keys, code, sealContext(shipmentId)), hmacKeyId: kid, hmac: digest };
  };
  const regenTo = (shipmentId: string, code: string, accountId: string, generation: number) => {
    const next = activeDigest(keys, shipmentId, code);
    const regen = { nowMs: now, cooldownMs: 0, maxRegenerations: 5, sealed: sealCode(keys, code, sealContext(shipmentId)), hmacKeyId: next.kid, hmac: next.digest };
    return { ...regen, owner: owner(accountId, generation) };
  };
  const issued = (code: NewCode) => ({ generation: code.generation, hmac: code.hmac });
  const id = `shp_${randomUUID()}`;
  await store.put(fresh(id, '111111', 'acc_1', 1));
  expect(await store.regenerate(id, regenTo(id, '333333', 'acc_1', 1))).toMatchObject({ verdict: 'ok', generation: 2 });
  for (let i = 0; i < 5; i++) await store.check(attemptOf(id, '999999'));
  const before = await hash(`code:${id}`);

  const code3 = fresh(id, '444444', 'acc_2', 3);
  const put = await store.put(code3);
  expect(put).toMatchObject({ verdict: 'ok', state: 'locked' });
  expect(await fields(`code:${id}`, 'acct', 'state', 'attempts', 'gen', 'regens')).toEqual(['acc_2', 'locked', '5', '3', '1']);
  expect((await store.check(attemptOf(id, '444444'))).verdict).toBe('locked');
  if (put.verdict !== 'ok') throw new Error('stored');
  // Not undone unless the store holds that very code (generation and HMAC).
  expect(await store.restore(id, { generation: 3, hmac: 'f'.repeat(64) }, put.replaced)).toBe(false);
  expect(await store.restore(id, { ...issued(code3), generation: 2 }, put.replaced)).toBe(false);
  expect(await store.withdraw(id, { generation: 3, hmac: 'f'.repeat(64) })).toBe(false);
  expect(await redis.hget(`code:${id}`, 'acct')).toBe('acc_2');
  // Undone: the replaced code, account and lock come back as they were.
  expect(await store.restore(id, issued(code3), put.replaced)).toBe(true);
  expect(await hash(`code:${id}`)).toEqual(before);
  // A reschedule keeps only the code the row names.
  const window = { windowStartMs: now - MIN, windowEndMs: now + MIN, expiresAtMs: now + 90 * MIN };
  expect(await store.reschedule(id, { ...window, expect: { accountId: 'acc_2', generation: 2 } })).toEqual({ verdict: 'stale' });
  expect(await store.reschedule(id, { ...window, expect: { accountId: 'acc_1', generation: 3 } })).toEqual({ verdict: 'stale' });
  expect(await store.reschedule(id, { ...window, expect: { accountId: 'acc_1', generation: 2 } })).toMatchObject({ verdict: 'ok', state: 'locked' });

  // A regenerate undone gets neither the lock lifted nor a regeneration counted.
  const locked = await hash(`code:${id}`);
  const regen4 = regenTo(id, '555555', 'acc_1', 2);
  const regenerated = await store.regenerate(id, regen4);
  expect(regenerated).toMatchObject({ verdict: 'ok', generation: 3 });
  if (regenerated.verdict !== 'ok') throw new Error('regenerated');
  expect((await store.check(attemptOf(id, '999999'))).verdict).toBe('mismatch');
  expect(await store.restore(id, { generation: 3, hmac: regen4.hmac }, regenerated.replaced)).toBe(true);
  expect(await hash(`code:${id}`)).toEqual(locked);
  expect((await store.check(attemptOf(id, '333333'))).verdict).toBe('locked');

  // A regenerate writes the row's account and generation, whatever the store held.
  const repaired = await store.regenerate(id, regenTo(id, '666666', 'acc_9', 7));
  expect(repaired).toMatchObject({ verdict: 'ok', generation: 8 });
  expect(await fields(`code:${id}`, 'acct', 'state', 'attempts', 'gen', 'regens')).toEqual(['acc_9', 'awaiting_handoff', '0', '8', '2']);

  // Withdrawn: unreadable, unusable, the lock and attempts kept; only a fresh code repairs it.
  const code9 = fresh(id, '777777', 'acc_9', 9);
  await store.put(code9);
  for (let i = 0; i < 2; i++) await store.check(attemptOf(id, '999999'));
  expect(await store.withdraw(id, issued(code9))).toBe(true);
  expect(await fields(`code:${id}`, 'acct', 'state', 'attempts', 'gen', 'sealed', 'hmac')).toEqual(['acc_9', 'awaiting_handoff', '2', '9', null, null]);
  expect((await store.get(id))?.sealed).toBeUndefined();
  expect((await store.check(attemptOf(id, '777777'))).verdict).toBe('locked');
  expect(await store.unlock(id)).toEqual({ verdict: 'not_found' });
  expect(await store.reschedule(id, { ...window, expect: { accountId: 'acc_9', generation: 9 } })).toEqual({ verdict: 'stale' });
  expect(await store.put(fresh(id, '888888', 'acc_9', 10))).toMatchObject({ verdict: 'ok', state: 'awaiting_handoff' });
  expect(await fields(`code:${id}`, 'attempts', 'gen')).toEqual(['2', '10']);

  // Never over a handoff.
  const code11 = fresh(id, '444444', 'acc_2', 11);
  await store.put(code11);
  expect((await store.check(attemptOf(id, '444444'))).verdict).toBe('ok');
  expect(await store.restore(id, issued(code11), { fields: [] })).toBe(false);
  expect(await store.withdraw(id, issued(code11))).toBe(false);
  expect(await redis.hget(`code:${id}`, 'state')).toBe('handed_off');
  expect(await store.put(fresh(id, '555555', 'acc_3', 12))).toEqual({ verdict: 'already' });
  expect(await fields(`code:${id}`, 'acct', 'state', 'sealed')).toEqual(['acc_2', 'handed_off', null]);

  // A first issue replaced nothing: its undo removes it.
  const other = `shp_${randomUUID()}`;
  const firstCode = fresh(other, '666666', 'acc_1', 1);
  const first = await store.put(firstCode);
  expect(first).toEqual({ verdict: 'ok', state: 'awaiting_handoff', replaced: { fields: [] } });
  if (first.verdict !== 'ok') throw new Error('stored');
  expect(await store.restore(other, issued(firstCode), first.replaced)).toBe(true);
  expect(await store.get(other)).toBeUndefined();
}

/**
 * revert() undoes a revoke, reschedule or unlock whose transaction did not
 * commit, only while the store still shows that very change; on real Redis
 * and on the embedded mode's in-memory one.
 */
async function revertStory(redis: Redis, store: RedisCodeStore): Promise<void> {
  const now = Date.now();
  const fields = async (key: string, ...names: string[]) => (await redis.hmget(key, ...names)).map((v) => (v === null ? v : String(v)));
  const hash = async (key: string) => Object.fromEntries(Object.entries(await redis.hgetall(key)).map(([k, v]) => [k, String(v)]));
  const issue = async (shipmentId: string, code: string) => {
    const { kid, digest } = activeDigest(keys, shipmentId, code);
    await store.put({
      shipmentId, accountId: 'acc_1', courierId: 'cour_1', windowStartMs: now - 60 * MIN, windowEndMs: now + 60 * MIN, expiresAtMs: now + 90 * MIN,
      generation: 1, sealed: sealCode(keys, code, sealContext(shipmentId)), hmacKeyId: kid, hmac: digest,
    });
  };
  const ok = <R extends { verdict: string }>(result: R): Extract<R, { verdict: 'ok' }> => {
    if (result.verdict !== 'ok') throw new Error(`answered ${result.verdict}`);
    return result as Extract<R, { verdict: 'ok' }>;
  };
  const id = `shp_${randomUUID()}`;
  await issue(id, '111111');
  for (let i = 0; i < 5; i++) await store.check(attemptOf(id, '999999'));
  const locked = await hash(`code:${id}`);

  // Revoke, reverted: the whole code back (restore), or its carry without the code (withdraw).
  const revoked = ok(await store.revoke(id));
  expect(revoked.carry).toMatchObject({ attempts: 5, locked: true });
  expect(await store.get(id)).toBeUndefined();
  expect(await store.revert(id, revoked.change, 'restore')).toBe(true);
  expect(await hash(`code:${id}`)).toEqual(locked);
  expect(await store.revert(id, revoked.change, 'restore')).toBe(false);
  const again = ok(await store.revoke(id));
  expect(await store.revert(id, again.change, 'withdraw')).toBe(true);
  const { sealed: _s, hmac: _h, hkid: _k, ...carried } = locked;
  expect(await hash(`code:${id}`)).toEqual(carried);
  expect((await store.check(attemptOf(id, '111111'))).verdict).toBe('locked');
  // Another revoke that saw no code voids the revert.
  const other = `shp_${randomUUID()}`;
  await issue(other, '222222');
  const gone = ok(await store.revoke(other));
  expect(await store.revoke(other)).toEqual({ verdict: 'not_found' });
  expect(await store.revert(other, gone.change, 'restore')).toBe(false);
  expect(await store.get(other)).toBeUndefined();

  // Unlock, reverted: the lock back, with the attempts spent before and since.
  const third = `shp_${randomUUID()}`;
  await issue(third, '333333');
  for (let i = 0; i < 5; i++) await store.check(attemptOf(third, '999999'));
  const unlocked = ok(await store.unlock(third));
  expect((await store.check(attemptOf(third, '999999'))).verdict).toBe('mismatch');
  expect(await store.revert(third, unlocked.change, 'restore')).toBe(true);
  expect(await redis.hmget(`code:${third}`, 'state', 'attempts', 'chgUnlock').then((v) => v.map((x) => (x === null ? x : String(x))))).toEqual(['locked', '6', null]);
  expect((await store.check(attemptOf(third, '333333'))).verdict).toBe('locked');

  // Reschedule, reverted: the window and courier back; not once another change came after it.
  const fourth = `shp_${randomUUID()}`;
  await issue(fourth, '444444');
  const original = await hash(`code:${fourth}`);
  const moved = { windowStartMs: now, windowEndMs: now + 120 * MIN, expiresAtMs: now + 150 * MIN, courierId: 'cour_2' };
  const first = ok(await store.reschedule(fourth, moved));
  expect(await store.revert(fourth, first.change, 'restore')).toBe(true);
  expect(await hash(`code:${fourth}`)).toEqual(original);
  const second = ok(await store.reschedule(fourth, moved));
  const later = ok(await store.reschedule(fourth, { ...moved, courierId: 'cour_3' }));
  expect(await store.revert(fourth, second.change, 'restore')).toBe(false);
  expect(await redis.hget(`code:${fourth}`, 'courier')).toBe('cour_3');
  // Never over a handoff.
  expect((await store.check({ ...attemptOf(fourth, '444444'), courierId: 'cour_3' })).verdict).toBe('ok');
  expect(await store.revert(fourth, later.change, 'restore')).toBe(false);
  expect(await redis.hget(`code:${fourth}`, 'state')).toBe('handed_off');

  // An unlock and a reschedule that interleave: each revert puts back its own fields (review s7b).
  const window = { windowStartMs: now - 60 * MIN, windowEndMs: now + 60 * MIN, expiresAtMs: now + 90 * MIN };
  const fifth = `shp_${randomUUID()}`;
  await issue(fifth, '555555');
  for (let i = 0; i < 5; i++) await store.check(attemptOf(fifth, '999999'));
  const failedUnlock = ok(await store.unlock(fifth));
  ok(await store.reschedule(fifth, window));
  expect(await store.revert(fifth, failedUnlock.change, 'restore')).toBe(true);
  expect(await fields(`code:${fifth}`, 'state', 'attempts')).toEqual(['locked', '5']);
  const sixth = `shp_${randomUUID()}`;
  await issue(sixth, '666666');
  const failedReassign = ok(await store.reschedule(sixth, { ...window, courierId: 'cour_2' }));
  ok(await store.unlock(sixth));
  expect(await store.revert(sixth, failedReassign.change, 'restore')).toBe(true);
  expect((await store.check({ ...attemptOf(sixth, '666666'), courierId: 'cour_2' })).verdict).toBe('not_assigned');

  // A later unlock voids an earlier one's revert; its own revert brings back what the row holds
  // (the lock the earlier, uncommitted unlock lifted in the store only).
  const seventh = `shp_${randomUUID()}`;
  await issue(seventh, '777777');
  for (let i = 0; i < 5; i++) await store.check(attemptOf(seventh, '999999'));
  const earlier = ok(await store.unlock(seventh));
  const laterUnlock = ok(await store.unlock(seventh, { attempts: 5, locked: true }));
  expect(await store.revert(seventh, earlier.change, 'restore')).toBe(false);
  expect(await store.get(seventh)).toMatchObject({ state: 'awaiting_handoff', unlockPending: true });
  expect(await store.revert(seventh, laterUnlock.change, 'restore')).toBe(true);
  expect(await fields(`code:${seventh}`, 'state', 'attempts', 'chgUnlock')).toEqual(['locked', '5', null]);
  // A later reschedule's revert puts back the row's window and courier, not an earlier uncommitted one's.
  const moveA = ok(await store.reschedule(seventh, { ...window, courierId: 'cour_2' }));
  const moveB = ok(await store.reschedule(seventh, { ...window, courierId: 'cour_3', previous: { ...window, courierId: 'cour_1' } }));
  expect(await store.revert(seventh, moveA.change, 'restore')).toBe(false);
  expect(await store.revert(seventh, moveB.change, 'restore')).toBe(true);
  expect(await redis.hget(`code:${seventh}`, 'courier')).toBe('cour_1');

  // Settled (committed): no longer pending, and its revert refused.
  const eighth = `shp_${randomUUID()}`;
  await issue(eighth, '888888');
  for (let i = 0; i < 5; i++) await store.check(attemptOf(eighth, '999999'));
  const committed = ok(await store.unlock(eighth));
  expect(await store.settle(eighth, committed.change)).toBe(true);
  expect((await store.get(eighth))?.unlockPending).toBeUndefined();
  expect(await store.revert(eighth, committed.change, 'restore')).toBe(false);
  expect(await fields(`code:${eighth}`, 'state', 'attempts')).toEqual(['awaiting_handoff', '0']);

  // An issue undone keeps a pending unlock's token: the unlock's revert, after it, still brings the lock back.
  const ninth = `shp_${randomUUID()}`;
  await issue(ninth, '999990');
  for (let i = 0; i < 5; i++) await store.check(attemptOf(ninth, '999999'));
  const pendingUnlock = ok(await store.unlock(ninth));
  const { kid, digest } = activeDigest(keys, ninth, '123456');
  const put = await store.put({
    shipmentId: ninth, accountId: 'acc_2', courierId: 'cour_1', ...window, generation: 2,
    sealed: sealCode(keys, '123456', sealContext(ninth)), hmacKeyId: kid, hmac: digest,
  });
  if (put.verdict !== 'ok') throw new Error(`put answered ${put.verdict}`);
  expect(await store.restore(ninth, { generation: 2, hmac: digest }, put.replaced)).toBe(true);
  expect(await store.revert(ninth, pendingUnlock.change, 'restore')).toBe(true);
  expect(await fields(`code:${ninth}`, 'state', 'attempts', 'gen')).toEqual(['locked', '5', '1']);

  // A revoke after an unlock and a reassign that did not commit carries, and its revert brings back,
  // the row's lock, window and courier.
  const tenth = `shp_${randomUUID()}`;
  await issue(tenth, '101010');
  for (let i = 0; i < 5; i++) await store.check(attemptOf(tenth, '999999'));
  ok(await store.unlock(tenth));
  ok(await store.reschedule(tenth, { windowStartMs: now, windowEndMs: now + 120 * MIN, expiresAtMs: now + 150 * MIN, courierId: 'cour_2' }));
  const cancelled = ok(await store.revoke(tenth, { attempts: 5, locked: true, window: { ...window, courierId: 'cour_1' } }));
  expect(cancelled.carry).toMatchObject({ attempts: 5, locked: true });
  expect(await store.revert(tenth, cancelled.change, 'restore')).toBe(true);
  expect(await fields(`code:${tenth}`, 'state', 'attempts', 'courier', 'we', 'exp')).toEqual(['locked', '5', 'cour_1', String(window.windowEndMs), String(window.expiresAtMs)]);
}

describe('RedisCodeStore (real Redis)', () => {
  const prefix = redisPrefix();
  let redis: Redis;
  let store: RedisCodeStore;
  const now = Date.now();

  beforeAll(async () => {
    redis = createRedis({ url: TEST_INFRA.redisUrl, keyPrefix: prefix });
    await redisReady(redis);
    store = new RedisCodeStore(redis);
  });

  afterAll(async () => {
    redis.disconnect();
    await dropRedisPrefix(prefix);
  });

  async function issue(code: string, over: Partial<{ ws: number; we: number; exp: number; courierId: string }> = {}) {
    const shipmentId = `shp_${randomUUID()}`;
    const ws = over.ws ?? now - 60 * MIN;
    const we = over.we ?? now + 60 * MIN;
    const { kid, digest } = activeDigest(keys, shipmentId, code);
    await store.put({
      shipmentId,
      accountId: 'acc_1',
      courierId: over.courierId ?? 'cour_1',
      windowStartMs: ws,
      windowEndMs: we,
      expiresAtMs: over.exp ?? we + 30 * MIN,
      generation: 1,
      sealed: sealCode(keys, code, sealContext(shipmentId)),
      hmacKeyId: kid,
      hmac: digest,
    });
    return shipmentId;
  }

  const attempt = (shipmentId: string, code: string, over: Partial<CheckInput> = {}): CheckInput => ({ ...attemptOf(shipmentId, code), ...over });

  it('stores no code in clear and expires the key at window end + grace', async () => {
    const id = await issue('482913');
    const raw = await redis.hgetall(`code:${id}`);
    expect(JSON.stringify(raw)).not.toContain('482913');
    const pttl = await redis.pttl(`code:${id}`);
    expect(pttl).toBeGreaterThan(89 * MIN);
    expect(pttl).toBeLessThanOrEqual(90 * MIN);
  });

  it('lets exactly one of 50 concurrent right codes through (C5)', async () => {
    const id = await issue('123456');
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.check(attempt(id, '123456', { deviceId: `dev_${i}` }))));
    expect(results.filter((r) => r.verdict === 'ok')).toHaveLength(1);
    expect(results.filter((r) => r.verdict === 'already')).toHaveLength(49);
    const live = await store.get(id);
    expect(live?.state).toBe('handed_off');
    expect(live?.sealed).toBeUndefined();
  });

  it('counts wrong codes, locks at the limit and then refuses the right code (C7)', async () => {
    const id = await issue('111111');
    const remaining = [];
    for (let i = 0; i < 4; i++) remaining.push((await store.check(attempt(id, '222222'))).attemptsRemaining);
    expect(remaining).toEqual([4, 3, 2, 1]);
    expect((await store.check(attempt(id, '222222'))).verdict).toBe('locked_now');
    expect((await store.check(attempt(id, '111111'))).verdict).toBe('locked');
    expect((await store.unlock(id)).verdict).toBe('ok');
    expect((await store.check(attempt(id, '111111'))).verdict).toBe('ok');
  });

  it('locks after exactly 5 of 40 concurrent wrong codes', async () => {
    const id = await issue('111111');
    const results = await Promise.all(Array.from({ length: 40 }, () => store.check(attempt(id, '999999'))));
    expect(results.filter((r) => r.verdict === 'mismatch')).toHaveLength(4);
    expect(results.filter((r) => r.verdict === 'locked_now')).toHaveLength(1);
    expect(results.filter((r) => r.verdict === 'locked')).toHaveLength(35);
  });

  it('refuses another courier without counting an attempt', async () => {
    const id = await issue('111111');
    expect((await store.check(attempt(id, '111111', { courierId: 'cour_2' }))).verdict).toBe('not_assigned');
    expect((await store.get(id))?.attempts).toBe(0);
    expect((await store.reschedule(id, { windowStartMs: now - MIN, windowEndMs: now + MIN, expiresAtMs: now + 31 * MIN, courierId: 'cour_2' })).verdict).toBe('ok');
    expect((await store.check(attempt(id, '111111'))).verdict).toBe('not_assigned');
    expect((await store.check(attempt(id, '111111', { courierId: 'cour_2' }))).verdict).toBe('ok');
  });

  it('regenerates: the old code fails, the new one works, within a doubling cooldown and the limit', async () => {
    const id = await issue('111111');
    const next = activeDigest(keys, id, '333333');
    const owner = { accountId: 'acc_1', courierId: 'cour_1', windowStartMs: now - 60 * MIN, windowEndMs: now + 60 * MIN, expiresAtMs: now + 90 * MIN, generation: 1 };
    const settings = { cooldownMs: 30_000, maxRegenerations: 2, sealed: sealCode(keys, '333333', sealContext(id)), hmacKeyId: next.kid, hmac: next.digest, owner };
    expect(await store.regenerate(id, { ...settings, nowMs: now })).toMatchObject({ verdict: 'ok', generation: 2, regenerations: 1 });
    // After one regeneration the cooldown is 60 s (C9: it doubles with each send), answered as the time left.
    const cooldown = await store.regenerate(id, { ...settings, nowMs: now + 10_000 });
    expect(cooldown).toEqual({ verdict: 'cooldown', retryAfterMs: 50_000 });
    expect((await store.regenerate(id, { ...settings, nowMs: now + 31_000 })).verdict).toBe('cooldown');
    expect((await store.regenerate(id, { ...settings, nowMs: now + 60_000 })).verdict).toBe('ok');
    expect((await store.regenerate(id, { ...settings, nowMs: now + 300_000 })).verdict).toBe('limit');
    expect((await store.check(attempt(id, '111111'))).verdict).toBe('mismatch');
    expect((await store.check(attempt(id, '333333'))).verdict).toBe('ok');
    expect((await store.regenerate(id, { ...settings, nowMs: now + 200_000 })).verdict).toBe('already');
  });

  it('re-issues keeping the lock, the spent attempts and the regenerations; never over a handoff; restore and withdraw undo only the code issued', () =>
    reissueStory(redis, store));

  it('reverts a revoke, reschedule or unlock only while the store still shows it', () => revertStory(redis, store));

  it('revokes: the code is gone', async () => {
    const id = await issue('111111');
    expect((await store.revoke(id)).verdict).toBe('ok');
    expect(await store.get(id)).toBeUndefined();
    expect((await store.check(attempt(id, '111111'))).verdict).toBe('not_found');
    expect((await store.revoke(id)).verdict).toBe('not_found');
  });

  it('applies the same time rule as handoffTimeVerdict', async () => {
    const ws = now - 60 * MIN;
    const we = now + 60 * MIN;
    const exp = we + 30 * MIN;
    const id = await issue('111111', { ws, we, exp });
    const times = fc.integer({ min: ws - 3 * 60 * MIN, max: exp + 60 * MIN });
    await fc.assert(
      fc.asyncProperty(times, times, async (nowMs, atMs) => {
        // A wrong code, so a passing time rule answers 'mismatch' without changing state.
        await store.unlock(id);
        const result = await store.check(attempt(id, '000000', { nowMs, atMs }));
        const expected = handoffTimeVerdict({ nowMs, atMs, windowStartMs: ws, windowEndMs: we, expiresAtMs: exp, toleranceMs: 2 * MIN });
        if (expected.ok) expect(result.verdict).toBe('mismatch');
        else expect(result).toMatchObject({ verdict: 'window_closed', reason: expected.reason });
      }),
      { numRuns: 300 },
    );
  });

  it('fails closed with 503 when Redis is unreachable (R1)', async () => {
    const down = createRedis({ url: 'redis://127.0.0.1:1', keyPrefix: prefix }, { retryStrategy: () => null });
    const broken = new RedisCodeStore(down);
    await expect(broken.check(attempt('shp_x', '111111'))).rejects.toMatchObject({ code: 'service_unavailable', status: 503 });
    await expect(broken.get('shp_x')).rejects.toBeInstanceOf(DomainError);
    down.disconnect();
  });
});

describe('RedisCodeStore on the embedded in-memory Redis', () => {
  it.each([
    ['re-issue and restore', reissueStory],
    ['revoke and revert', revertStory],
  ] as const)('runs the %s scripts the same way', async (_name, story) => {
    const redis = createRedis({ url: 'memory://', keyPrefix: redisPrefix() });
    try {
      await story(redis, new RedisCodeStore(redis));
    } finally {
      redis.disconnect();
    }
  });
});
