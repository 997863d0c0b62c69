import { randomUUID } from 'node:crypto';
import { EnvelopeCodec, Outbox, SensitiveCipher } from '@phonegate/messaging';
import { Clock, createLogger } from '@phonegate/platform';
import { createTestDatabase, LogCapture, type TestDatabase } from '@phonegate/platform/testing';
import type { DataSource } from 'typeorm';
import { MessageClaims } from '../../src/dispatch/message-claims';
import { createNotifierDataSource } from '../../src/infrastructure';
import type { NewMessage } from '../../src/messages/message-log';
import { PostgresMessageLog } from '../../src/messages/postgres-message.log';
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

/** A replica's process clock: real time off by `skewMs` (its NTP is broken). */
class SkewedClock extends Clock {
  constructor(private readonly skewMs: number) {
    super();
  }
  override now(): Date {
    return new Date(this.nowMs());
  }
  override nowMs(): number {
    return Date.now() + this.skewMs;
  }
}

const SKEW_MS = 10_000;

/** The message log row as a per-message claim, on the real PostgreSQL. */
describe('MessageClaims', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let log: TypeOrmMessageLog;
  let pgLog: PostgresMessageLog;
  const logger = createLogger({ service: 'test', level: 'warn', destination: new LogCapture() });
  const claims = (leaseMs?: number) => new MessageClaims(ds, logger, leaseMs);
  const statusOf = async (id: string) => (await log.statusOf(id))?.status;
  /** Sets back the row's claim to `ageMs` ago on the database's clock (its holder went quiet). */
  const ageClaim = (id: string, ageMs: number) =>
    ds.query(
      `UPDATE messages SET claimed_at = clock_timestamp() - $2::int * interval '1 millisecond' WHERE id = $1`,
      [id, ageMs],
    );

  beforeAll(async () => {
    db = await createTestDatabase('pg_notifier_claims');
    ds = await createNotifierDataSource({ type: 'postgres', url: db.url }).initialize();
    const codec = new EnvelopeCodec(
      'notifier',
      new SensitiveCipher({ keys: { t1: TEST_BUS_KEYS.slice(3) }, activeKeyId: 't1' }),
    );
    log = new TypeOrmMessageLog(ds, new Outbox(codec));
    pgLog = new PostgresMessageLog(ds, new Outbox(codec), { codec });
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
    expect(await log.insertSending(m, new Date())).toBe('inserted');
    const c = claims();
    expect(await c.claim(m.id)).toBe(false);
    await ageClaim(m.id, c.leaseMs - 200);
    expect(await c.claim(m.id)).toBe(false);
    await ageClaim(m.id, c.leaseMs);
    expect(await c.claim(m.id)).toBe(true);
    // The new holder's claim is fresh: a third delivery is refused again.
    expect(await c.claim(m.id)).toBe(false);
  });

  it('keeps a held claim fresh until its holder lets go', async () => {
    const m = message();
    await log.insertSending(m, new Date());
    const letGo = claims(300).keep(m.id);
    await sleep(700);
    expect(await claims(300).claim(m.id)).toBe(false); // renewed past its 300 ms
    letGo();
    await sleep(400);
    expect(await claims(300).claim(m.id)).toBe(true);
  });

  it('never takes a finished message, however old, nor one that does not exist', async () => {
    const m = message();
    const at = new Date();
    await log.insertSending(m, at);
    await log.recordSent(m.id, at, 'smpp-a', 'p-1');
    await ageClaim(m.id, 3_600_000);
    expect(await claims().claim(m.id)).toBe(false);
    expect(await statusOf(m.id)).toBe('sent');
    expect(await claims().claim(randomUUID())).toBe(false);
  });

  describe('between replicas whose clocks disagree (only the database clock counts)', () => {
    /** A replica as dispatch uses one: its clock stamps the insert, its claims take the row. */
    const replica = (skewMs: number, leaseMs?: number, messageLog: TypeOrmMessageLog = pgLog) => {
      const clock = new SkewedClock(skewMs);
      return {
        insertSending: (m: NewMessage) => messageLog.insertSending(m, clock.now()),
        claims: claims(leaseMs),
      };
    };

    it.each([
      ['behind', 'PostgresMessageLog', -SKEW_MS],
      ['ahead', 'PostgresMessageLog', SKEW_MS],
      ['behind', 'TypeOrmMessageLog', -SKEW_MS],
      ['ahead', 'TypeOrmMessageLog', SKEW_MS],
    ])(
      'refuses a live claim of a replica whose clock is %s (insert by %s)',
      async (_, by, skewMs) => {
        const m = message();
        const holder = replica(skewMs, undefined, by === 'TypeOrmMessageLog' ? log : pgLog);
        const other = replica(0);
        expect(await holder.insertSending(m)).toBe('inserted');
        expect(await other.claims.claim(m.id)).toBe(false);
        expect(await replica(-skewMs).claims.claim(m.id)).toBe(false);
        expect(await statusOf(m.id)).toBe('sending');
      },
    );

    it('takes a dead claim once its lease ran out on the database clock, whatever the taker’s clock says', async () => {
      const m = message();
      const leaseMs = 300;
      expect(await replica(0, leaseMs).insertSending(m)).toBe('inserted');
      await sleep(leaseMs + 100);
      expect(await replica(-SKEW_MS, leaseMs).claims.claim(m.id)).toBe(true);
      // Its claim is fresh on the database clock: replicas behind and ahead are refused alike.
      expect(await replica(SKEW_MS, leaseMs).claims.claim(m.id)).toBe(false);
      expect(await replica(-SKEW_MS, leaseMs).claims.claim(m.id)).toBe(false);
    });

    it('keeps a claim fresh on the database clock while its holder’s clock is behind', async () => {
      const m = message();
      const leaseMs = 300;
      const holder = replica(-SKEW_MS, leaseMs);
      expect(await holder.insertSending(m)).toBe('inserted');
      const letGo = holder.claims.keep(m.id);
      try {
        await sleep(leaseMs + 300);
        expect(await replica(0, leaseMs).claims.claim(m.id)).toBe(false);
      } finally {
        letGo();
      }
    });
  });
});
