import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '@phonegate/platform/testing';
import type { DataSource } from 'typeorm';
import { TypeOrmContactDirectory } from '../../src/contacts/typeorm-contact.directory';
import { createNotifierDataSource } from '../../src/infrastructure';

jest.setTimeout(30_000);

/** Identity's event times (the envelope's), one second apart. */
const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

/**
 * The contact projection's primary number on real PostgreSQL when identity's events come out
 * of order (a delivery retried through the bus's delay queues arrives after later events): the
 * primary is the one identity made primary last, whatever order the notifier hears it in.
 */
describe('TypeOrmContactDirectory: the primary number with events out of order', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let contacts: TypeOrmContactDirectory;
  const primary = async (accountId: string) => (await contacts.primaryNumberOf(accountId))?.e164;

  beforeAll(async () => {
    db = await createTestDatabase('notifier_contacts');
    ds = await createNotifierDataSource({ type: 'postgres', url: db.url }).initialize();
    contacts = new TypeOrmContactDirectory(ds);
  });

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('a first number’s verification (primary) heard after a later number was made primary does not demote it', async () => {
    // identity: P1 verified (first number: primary) t1, P2 verified t2, P2 made primary t3.
    const a = randomUUID();
    await contacts.accountCreated(a, 'a@example.com', 'en', t(0));
    await contacts.phoneVerified(a, randomUUID(), '+14155550002', false, t(2));
    const p2 = (
      await ds.query<{ phone_id: string }[]>(
        `SELECT phone_id FROM contact_phones WHERE e164 = '+14155550002'`,
      )
    )[0]!.phone_id;
    await contacts.primaryChanged(a, p2, '+14155550002', t(3));
    await contacts.phoneVerified(a, randomUUID(), '+14155550001', true, t(1));
    expect(await primary(a)).toBe('+14155550002');
  });

  it('a replacement’s verification (primary) heard after a newer number was made primary does not demote it', async () => {
    // identity: Q1 (primary) t1, replaced by Q2 at t2 (verified primary), Q3 verified t3 and
    // made primary t4. Q2's verification is heard last.
    const b = randomUUID();
    const [q1, q2, q3] = [randomUUID(), randomUUID(), randomUUID()];
    await contacts.phoneVerified(b, q1, '+14155550011', true, t(1));
    await contacts.phoneRemoved(b, q1, '+14155550011', t(2));
    await contacts.phoneVerified(b, q3, '+14155550013', false, t(3));
    await contacts.primaryChanged(b, q3, '+14155550013', t(4));
    await contacts.phoneVerified(b, q2, '+14155550012', true, t(2), q1);
    expect(await primary(b)).toBe('+14155550013');
  });

  it('an older primary_changed heard after a newer one does not take the primary back', async () => {
    const c = randomUUID();
    const [r1, r2] = [randomUUID(), randomUUID()];
    await contacts.phoneVerified(c, r1, '+14155550021', true, t(1));
    await contacts.phoneVerified(c, r2, '+14155550022', false, t(2));
    await contacts.primaryChanged(c, r2, '+14155550022', t(5));
    await contacts.primaryChanged(c, r1, '+14155550021', t(4));
    expect(await primary(c)).toBe('+14155550022');
  });

  it('in order, the newer primary wins as before: a later verification with primary, then a later primary_changed', async () => {
    const d = randomUUID();
    const [s1, s2, s3] = [randomUUID(), randomUUID(), randomUUID()];
    await contacts.phoneVerified(d, s1, '+14155550031', true, t(1));
    await contacts.phoneVerified(d, s2, '+14155550032', true, t(2));
    expect(await primary(d)).toBe('+14155550032');
    await contacts.phoneVerified(d, s3, '+14155550033', false, t(3));
    await contacts.primaryChanged(d, s1, '+14155550031', t(4));
    expect(await primary(d)).toBe('+14155550031');
    // Heard late and for the first time, not primary then: known, not primary.
    await contacts.primaryChanged(d, randomUUID(), '+14155550034', t(3));
    expect(await primary(d)).toBe('+14155550031');
    expect(
      (
        await ds.query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM contact_phones WHERE account_id = $1 AND is_primary`,
          [d],
        )
      )[0]!.n,
    ).toBe(1);
  });
});
