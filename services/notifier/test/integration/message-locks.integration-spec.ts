import { randomUUID } from 'node:crypto';
import { createLogger, createRedis, redisReady } from '@phonegate/platform';
import {
  dropRedisPrefix,
  eventually,
  LogCapture,
  redisPrefix,
  TEST_INFRA,
} from '@phonegate/platform/testing';
import type { Redis } from 'ioredis';
import { MessageLocks } from '../../src/dispatch/message-locks';

jest.setTimeout(30_000);

/** The first message claims a new dedupeKey, a second is told it is taken, the first is told it is its own. */
async function claimsDedupeKeyOnce(locks: MessageLocks): Promise<{ key: string; first: string }> {
  const key = `otp:${randomUUID()}:1`;
  const [first, second] = [randomUUID(), randomUUID()];
  const a = await locks.acquire(first, key);
  expect(a?.dedupe).toBe('claimed');
  const b = await locks.acquire(second, key);
  expect(b?.dedupe).toBe('taken');
  a!.release();
  b!.release();
  const again = await eventually(() => locks.acquire(first, key), 2_000, 10);
  expect(again.dedupe).toBe('mine');
  again.release();
  return { key, first };
}

/** The per-message lock and the dedupeKey claim, one script on the real Redis. */
describe('MessageLocks', () => {
  const prefix = redisPrefix();
  let redis: Redis;
  let raw: Redis;
  const logs = new LogCapture();
  const logger = createLogger({ service: 'test', level: 'debug', destination: logs });

  beforeAll(async () => {
    redis = createRedis({ url: TEST_INFRA.redisUrl, keyPrefix: prefix });
    raw = createRedis({ url: TEST_INFRA.redisUrl });
    await Promise.all([redisReady(redis), redisReady(raw)]);
  });

  afterAll(async () => {
    await dropRedisPrefix(prefix);
    redis.disconnect();
    raw.disconnect();
  });

  it('lets one worker at a time hold a message, until it lets go', async () => {
    const locks = new MessageLocks(redis, logger, 60_000);
    const id = randomUUID();
    const held = await locks.acquire(id);
    expect(held).toBeDefined();
    expect(held!.dedupe).toBeUndefined();
    expect(await locks.acquire(id)).toBeUndefined();
    expect(await raw.exists(`${prefix}lock:message:${id}`)).toBe(1);
    held!.release();
    const again = await eventually(() => locks.acquire(id), 2_000, 10);
    again.release();
  });

  it('claims a dedupeKey for the first message only, and knows it again for that message', async () => {
    const locks = new MessageLocks(redis, logger, 60_000);
    const { key, first } = await claimsDedupeKeyOnce(locks);
    expect(await raw.get(`${prefix}dedupe:${key}`)).toBe(first);
    expect(await raw.pttl(`${prefix}dedupe:${key}`)).toBeGreaterThan(50_000);
  });

  it('does not claim the dedupeKey when the lock is busy', async () => {
    const locks = new MessageLocks(redis, logger, 60_000);
    const id = randomUUID();
    const key = `otp:${randomUUID()}:1`;
    const held = await locks.acquire(id);
    expect(await locks.acquire(id, key)).toBeUndefined();
    expect(await raw.exists(`${prefix}dedupe:${key}`)).toBe(0);
    held!.release();
  });

  it('renews a lock while it is held and frees a dropped one within its TTL', async () => {
    const locks = new MessageLocks(redis, logger, 60_000, 300);
    const id = randomUUID();
    const held = await locks.acquire(id);
    await new Promise((r) => setTimeout(r, 700));
    expect(await locks.acquire(id)).toBeUndefined(); // renewed past its 300 ms
    held!.release();
    const crashed = randomUUID();
    await raw.set(`${prefix}lock:message:${crashed}`, 'gone-worker', 'PX', 300);
    expect(await locks.acquire(crashed)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 400));
    const taken = await locks.acquire(crashed);
    expect(taken).toBeDefined();
    taken!.release();
  });

  it('hands a kept carrier acceptance to the next holder of the lock, instead of the dedupeKey verdict', async () => {
    const locks = new MessageLocks(redis, logger, 60_000);
    const id = randomUUID();
    const key = `otp:${randomUUID()}:1`;
    const first = await locks.acquire(id, key);
    expect(first?.accepted).toBeUndefined();
    const accepted = {
      carrier: 'smpp-a',
      providerMessageId: 'P-7',
      at: new Date(1_700_000_000_000),
    };
    expect(await locks.markAccepted(id, accepted)).toBe(true);
    expect(await raw.pttl(`${prefix}accepted:message:${id}`)).toBeGreaterThan(50_000);
    // Held: the next delivery is still turned away.
    expect(await locks.acquire(id, key)).toBeUndefined();
    first!.release();
    const next = await eventually(() => locks.acquire(id, key), 2_000, 10);
    expect(next.accepted).toEqual(accepted);
    expect(next.dedupe).toBeUndefined();
    next.release();
    locks.forgetAccepted(id);
    await eventually(async () => (await raw.exists(`${prefix}accepted:message:${id}`)) === 0);
    const after = await eventually(() => locks.acquire(id), 2_000, 10);
    expect(after.accepted).toBeUndefined();
    after.release();
  });

  it('ignores, logged, a kept acceptance it cannot read', async () => {
    const locks = new MessageLocks(redis, logger, 60_000);
    const id = randomUUID();
    await raw.set(`${prefix}accepted:message:${id}`, '{"carrier":1}', 'PX', 60_000);
    const held = await locks.acquire(id);
    expect(held).toBeDefined();
    expect(held!.accepted).toBeUndefined();
    held!.release();
    expect(logs.text()).toContain('accepted send record unreadable');
  });

  it('fails open, logged, when Redis cannot answer', async () => {
    const down = createRedis({ url: TEST_INFRA.redisUrl, keyPrefix: prefix });
    await redisReady(down);
    down.disconnect();
    const locks = new MessageLocks(down, logger, 60_000);
    const held = await locks.acquire(randomUUID(), 'otp:x:1');
    expect(held?.dedupe).toBe('claimed');
    held!.release();
    expect(logs.text()).toContain('relying on the message log');
    expect(
      await locks.markAccepted(randomUUID(), {
        carrier: 'smpp-a',
        providerMessageId: 'P',
        at: new Date(),
      }),
    ).toBe(false);
    expect(logs.text()).toContain('accepted send not kept in Redis either');
  });
});

/** The embedded mode runs the same scripts on its in-memory Redis (ioredis-mock). */
describe('MessageLocks on the embedded in-memory Redis', () => {
  const logger = createLogger({ service: 'test', level: 'warn', destination: new LogCapture() });
  let redis: Redis;

  beforeAll(() => {
    redis = createRedis({ url: `memory://locks-${randomUUID()}`, keyPrefix: 'notifier:' });
  });

  afterAll(() => redis.disconnect());

  it('locks, refuses a second holder, and claims a dedupeKey once', async () => {
    const locks = new MessageLocks(redis, logger, 60_000);
    const id = randomUUID();
    const held = await locks.acquire(id);
    expect(held).toBeDefined();
    expect(held!.dedupe).toBeUndefined();
    expect(await locks.acquire(id)).toBeUndefined();
    held!.release();
    (await eventually(() => locks.acquire(id), 2_000, 10)).release();

    await claimsDedupeKeyOnce(locks);
  });

  it('hands a kept carrier acceptance over with the lock', async () => {
    const locks = new MessageLocks(redis, logger, 60_000);
    const id = randomUUID();
    const accepted = {
      carrier: 'http-b',
      providerMessageId: 'SM1',
      at: new Date(1_700_000_000_000),
    };
    expect(await locks.markAccepted(id, accepted)).toBe(true);
    const held = await locks.acquire(id, `otp:${randomUUID()}:1`);
    expect(held?.accepted).toEqual(accepted);
    expect(held?.dedupe).toBeUndefined();
    held!.release();
  });
});
