import { randomUUID } from 'node:crypto';
import { EnvelopeCodec, Outbox, SensitiveCipher } from '@phonegate/messaging';
import { Clock, createLogger, ManualClock } from '@phonegate/platform';
import { createTestDatabase, LogCapture, type TestDatabase } from '@phonegate/platform/testing';
import type { DataSource } from 'typeorm';
import { MessageClaims } from '../../src/dispatch/message-claims';
import { createNotifierDataSource } from '../../src/infrastructure';
import type { NewMessage } from '../../src/messages/message-log';
import { TypeOrmMessageLog } from '../../src/messages/typeorm-message.log';
import { TEST_BUS_KEYS } from '../support/harness';

jest.setTimeout(30_000);

const message = (): NewMessage => ({
  id: randomUUID(),
  priority: 'critical',
  channel: 'sms',
  template: 'otp.sign_in',
  locale: 'en',
  body: 'Your sign-in code is ••••••.',
  notAfter: new Date(Date.now() + 60_000),
  requestedAt: new Date(Date.now() - 1_000),
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The message log row as a per-message claim, on the real PostgreSQL. */
describe('MessageClaims', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let log: TypeOrmMessageLog;
  const logger = createLogger({ service: 'test', level: 'warn', destination: new LogCapture() });
  const claims = (clock: Clock = new Clock(), leaseMs?: number) =>
    new MessageClaims(ds, clock, logger, leaseMs);
  const statusOf = async (id: string) => (await log.statusOf(id))?.status;

  beforeAll(async () => {
    db = await createTestDatabase('pg_notifier_claims');
    ds = await createNotifierDataSource({ type: 'postgres', url: db.url }).initialize();
    const codec = new EnvelopeCodec(
      'notifier',
      new SensitiveCipher({ keys: { t1: TEST_BUS_KEYS.slice(3) }, activeKeyId: 't1' }),
    );
    log = new TypeOrmMessageLog(ds, new Outbox(codec));
  });

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('lets exactly one of many deliveries at once take a queued message', async () => {
    const m = message();
    await log.insertQueued(m, new Date());
    const won = await Promise.all(Array.from({ length: 8 }, () => claims().claim(m.id)));
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(await statusOf(m.id)).toBe('sending');
  });

  it('refuses a sending message its worker touched within the lease, and takes it after', async () => {
    const m = message();
    const at = new Date();
    expect(await log.insertSending(m, at)).toBe('inserted');
    const clock = new ManualClock(at.getTime());
    const c = claims(clock);
    expect(await c.claim(m.id)).toBe(false);
    clock.set(at.getTime() + c.leaseMs - 1);
    expect(await c.claim(m.id)).toBe(false);
    clock.set(at.getTime() + c.leaseMs);
    expect(await c.claim(m.id)).toBe(true);
    // The new holder's claim is fresh: a third delivery is refused again.
    expect(await c.claim(m.id)).toBe(false);
  });

  it('keeps a held claim fresh until its holder lets go', async () => {
    const m = message();
    await log.insertSending(m, new Date());
    const letGo = claims(new Clock(), 300).keep(m.id);
    await sleep(700);
    expect(await claims(new Clock(), 300).claim(m.id)).toBe(false); // renewed past its 300 ms
    letGo();
    await sleep(400);
    expect(await claims(new Clock(), 300).claim(m.id)).toBe(true);
  });

  it('never takes a finished message, however old, nor one that does not exist', async () => {
    const m = message();
    const at = new Date();
    await log.insertSending(m, at);
    await log.recordSent(m.id, at, 'smpp-a', 'p-1');
    const later = new ManualClock(at.getTime() + 3_600_000);
    expect(await claims(later).claim(m.id)).toBe(false);
    expect(await statusOf(m.id)).toBe('sent');
    expect(await claims(later).claim(randomUUID())).toBe(false);
  });
});
