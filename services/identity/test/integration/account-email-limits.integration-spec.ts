import { Client } from 'pg';
import { OVERSIZED_EMAILS } from '@phonegate/platform/testing';
import { Harness } from './support/harness';

jest.setTimeout(60_000);

/**
 * Creating an account refuses an e-mail no mail server can take (RFC 5321 size limits) at
 * the edge: 422 validation_failed naming `email`, no password hashed, no row, no event.
 * (There is no e-mail change route: POST /v1/accounts is the only place an account's
 * address is set.)
 */
describe('identity: account e-mail within RFC 5321 limits', () => {
  const h = new Harness();
  let pg: Client;

  beforeAll(async () => {
    await h.start();
    pg = new Client({ connectionString: h['db'].url });
    await pg.connect();
  }, 120_000);

  afterAll(async () => {
    await pg?.end();
    await h.close();
  }, 60_000);

  const label63 = 'd'.repeat(63);
  const accountsWith = async (email: string) =>
    (
      await pg.query<{ n: string }>(
        'SELECT count(*) AS n FROM accounts WHERE email_normalized = $1',
        [email.toLowerCase()],
      )
    ).rows[0]?.n;

  it.each(OVERSIZED_EMAILS)('refuses %s with 422 validation_failed on email and writes nothing', async (_what, email) => {
    const hashes = h.hasher.hashes;
    const since = Date.now();
    const res = await h.call('POST', '/v1/accounts', { email, password: h.password() });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.code).toBe('validation_failed');
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'email' })]);
    expect(res.body.errors[0].message).toMatch(/longer than (64|63|254) octets/);
    expect(h.hasher.hashes).toBe(hashes);
    expect(await accountsWith(email)).toBe('0');
    await new Promise((r) => setTimeout(r, 300));
    expect(h.tap.of('identity.account.created.v1').filter((m) => m.at >= since)).toEqual([]);
  });

  it('still creates an account right at the limits (64-octet local part, 63-octet label)', async () => {
    const email = `${'x'.repeat(56)}${Date.now().toString(36).slice(-8)}@${label63}.example.com`;
    const res = await h.call('POST', '/v1/accounts', { email, password: h.password() });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ email });
    expect(await accountsWith(email)).toBe('1');
  });
});
