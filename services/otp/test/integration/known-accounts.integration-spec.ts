import { randomUUID } from 'node:crypto';
import { accountCreatedV1, verifyFactorV1 } from '@phonegate/contracts';
import { eventually } from '@phonegate/platform/testing';
import { startedOtp } from '../support/otp-harness';

/**
 * otp keeps factors (TOTP authenticators, backup codes) only for accounts identity has: the ids
 * of `identity.account.created.v1` kept in PostgreSQL, and for an id not among them identity's
 * answer over the bus (`identity.account.exists.v1`), a yes kept too. An id identity never issued
 * is 404 not_found with nothing kept; identity not answering in time is 503, nothing kept. Real
 * PostgreSQL, Redis and RabbitMQ; the harness's second bus stands in for identity.
 */
describe('otp: factors only for accounts identity has', () => {
  const h = startedOtp({ OTP_ACCOUNT_LOOKUP_TIMEOUT: '400ms' });
  /** The accounts the stand-in identity has in this file; anything else it never issued. */
  const issued = new Set<string>();
  /** Accounts whose lookup the stand-in answers only after otp's deadline. */
  const slow = new Set<string>();

  beforeAll(() => {
    h.identityHas = async (accountId) => {
      if (slow.has(accountId)) await new Promise((r) => setTimeout(r, 1_000));
      return issued.has(accountId);
    };
  });

  const db = () => h.runtime.dataSource;
  const enrol = (accountId: string) =>
    h.inject('POST', `/v1/accounts/${accountId}/authenticators/totp`, {});
  const backupCodes = (accountId: string) =>
    h.inject('POST', `/v1/accounts/${accountId}/backup-codes`, {});

  /** What otp keeps of an account: its known row, authenticators and backup codes. */
  async function kept(accountId: string) {
    const count = async (sql: string) =>
      Number((await db().query<{ n: string }[]>(sql, [accountId]))[0]?.n);
    return {
      known: await count('SELECT count(*) AS n FROM known_accounts WHERE account_id = $1'),
      authenticators: await count(
        'SELECT count(*) AS n FROM totp_authenticators WHERE account_id = $1',
      ),
      backupCodes: await count('SELECT count(*) AS n FROM backup_codes WHERE account_id = $1'),
    };
  }

  const lookupsOf = (accountId: string) => h.accountLookups.filter((id) => id === accountId).length;

  it('an account identity announced enrols without asking identity; the event delivered three times is kept once', async () => {
    const accountId = randomUUID();
    const eventId = randomUUID();
    for (let i = 0; i < 3; i++) {
      await h.identity.events.publish(
        accountCreatedV1,
        { accountId, email: 'ana@example.com', locale: 'en' },
        { id: eventId },
      );
    }
    await eventually(async () => (await kept(accountId)).known === 1 || undefined, 5_000);

    expect((await enrol(accountId)).statusCode).toBe(201);
    expect((await backupCodes(accountId)).statusCode).toBe(201);
    expect(lookupsOf(accountId)).toBe(0);
    expect(await kept(accountId)).toEqual({ known: 1, authenticators: 1, backupCodes: 10 });
    const [row] = await db().query<{ source: string }[]>(
      'SELECT source FROM known_accounts WHERE account_id = $1',
      [accountId],
    );
    expect(row).toEqual({ source: 'event' });
    // The e-mail of the event is not kept anywhere.
    expect(JSON.stringify(await db().query('SELECT * FROM known_accounts'))).not.toContain(
      'ana@example.com',
    );
  });

  it('an account whose event has not arrived (just made, or made before this version) is asked of identity once; the yes is kept', async () => {
    const accountId = randomUUID();
    issued.add(accountId);

    const first = await enrol(accountId);
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({ id: expect.any(String), secret: expect.any(String) });
    expect(lookupsOf(accountId)).toBe(1);
    // Later its event arrives too: still one row, still known.
    await h.identity.events.publish(accountCreatedV1, {
      accountId,
      email: 'bo@example.com',
      locale: 'en',
    });
    expect((await enrol(accountId)).statusCode).toBe(201);
    expect((await backupCodes(accountId)).statusCode).toBe(201);
    expect(lookupsOf(accountId)).toBe(1);
    const k = await kept(accountId);
    // A second enrolment replaces the unconfirmed first one.
    expect(k).toEqual({ known: 1, authenticators: 1, backupCodes: 10 });
  });

  it('an id identity never issued: 404 not_found on both routes, nothing kept, and asked again next time (no is not kept)', async () => {
    const accountId = randomUUID();

    const enrolled = await enrol(accountId);
    expect(enrolled.statusCode).toBe(404);
    expect(enrolled.json()).toMatchObject({ code: 'not_found', status: 404 });
    expect(enrolled.json()).not.toHaveProperty('secret');
    const codes = await backupCodes(accountId);
    expect(codes.statusCode).toBe(404);
    expect(codes.json()).toMatchObject({ code: 'not_found' });
    expect(codes.json()).not.toHaveProperty('codes');
    expect(await kept(accountId)).toEqual({ known: 0, authenticators: 0, backupCodes: 0 });
    expect(lookupsOf(accountId)).toBe(2);

    // identity creates it a moment later (its event not yet here): the next enrolment passes.
    issued.add(accountId);
    expect((await enrol(accountId)).statusCode).toBe(201);
    expect(lookupsOf(accountId)).toBe(3);
    expect(await kept(accountId)).toMatchObject({ known: 1, authenticators: 1 });
  });

  it('identity not answering in time: 503 service_unavailable, nothing kept (fails closed)', async () => {
    const accountId = randomUUID();
    issued.add(accountId);
    slow.add(accountId);

    const enrolled = await enrol(accountId);
    expect(enrolled.statusCode).toBe(503);
    expect(enrolled.json()).toMatchObject({ code: 'service_unavailable' });
    expect((await backupCodes(accountId)).statusCode).toBe(503);
    expect(await kept(accountId)).toEqual({ known: 0, authenticators: 0, backupCodes: 0 });

    // Answering again: it passes, and is kept.
    slow.delete(accountId);
    expect((await enrol(accountId)).statusCode).toBe(201);
    expect(await kept(accountId)).toMatchObject({ known: 1, authenticators: 1 });
  });

  it("a known account's factor verifies over the bus as before (identity's own path asks nothing)", async () => {
    const accountId = randomUUID();
    await h.identity.events.publish(accountCreatedV1, {
      accountId,
      email: 'cy@example.com',
      locale: 'en',
    });
    await eventually(async () => (await kept(accountId)).known === 1 || undefined, 5_000);
    const codes = (await backupCodes(accountId)).json<{ codes: string[] }>().codes;
    await expect(
      h.identity.events.request(verifyFactorV1, {
        accountId,
        kind: 'backup_code',
        code: codes[0] as string,
        purpose: 'step_up',
      }),
    ).resolves.toEqual({ approved: true });
    expect(lookupsOf(accountId)).toBe(0);
    expect(h.logs.text()).not.toContain(codes[0]);
  });
});
