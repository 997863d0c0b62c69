import { Client } from 'pg';
import { TEST_INFRA, uniqueName } from '@phonegate/platform/testing';
import { SERVICES, readRepoFile } from './support/tools.helper';

/**
 * Runs deploy/postgres/init-databases.sql on the real PostgreSQL, with every
 * role and database name given a unique prefix (roles are cluster-wide, and
 * other tests run beside this one), then checks what it promised: one
 * database per service, owned by the service's own role, closed to the others.
 */
describe('deploy/postgres/init-databases.sql', () => {
  const prefix = uniqueName('t_init').toLowerCase();
  const names = SERVICES.map((s) => s.database);
  const renamed = (name: string) => `${prefix}_${name}`;
  let admin: Client;

  const statements = readRepoFile('deploy/postgres/init-databases.sql')
    .split('\n')
    .filter((line) => !line.trim().startsWith('--'))
    .join('\n')
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);

  function rewrite(statement: string): string {
    // Identifiers only: quoted passwords stay as they are.
    return statement.replace(
      /('[^']*')|\b(identity|otp|notifier|delivery)\b/g,
      (match, quoted: string | undefined) => (quoted ? quoted : renamed(match)),
    );
  }

  const asRole = async (role: string, database: string): Promise<string> => {
    const client = new Client({
      connectionString: TEST_INFRA.pgAdminUrl
        .replace(/\/\/[^@/]*@/, `//${role}@`)
        .replace(/\/[^/]*$/, `/${database}`),
    });
    try {
      await client.connect();
      const result = await client.query<{ user: string }>('SELECT current_user AS user');
      return result.rows[0]!.user;
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  beforeAll(async () => {
    admin = new Client({ connectionString: TEST_INFRA.pgAdminUrl });
    await admin.connect();
    // CREATE DATABASE cannot run inside a transaction: one statement at a time, as psql does.
    for (const statement of statements) await admin.query(rewrite(statement));
  }, 30_000);

  afterAll(async () => {
    for (const name of names)
      await admin.query(`DROP DATABASE IF EXISTS "${renamed(name)}" WITH (FORCE)`);
    for (const name of names) await admin.query(`DROP ROLE IF EXISTS "${renamed(name)}"`);
    await admin.end();
  }, 30_000);

  it('has one CREATE ROLE and one CREATE DATABASE per service database, and nothing unexpected', () => {
    expect(statements.filter((s) => /^CREATE ROLE/i.test(s))).toHaveLength(4);
    expect(statements.filter((s) => /^CREATE DATABASE/i.test(s))).toHaveLength(4);
    for (const s of statements)
      expect(s).toMatch(/^(CREATE ROLE|CREATE DATABASE|REVOKE CONNECT ON DATABASE)\b/i);
  });

  it('creates the four databases, each owned by its service’s role', async () => {
    const result = await admin.query<{ datname: string; owner: string }>(
      'SELECT d.datname, r.rolname AS owner FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = ANY($1) ORDER BY 1',
      [names.map(renamed)],
    );
    expect(result.rows).toEqual(
      names
        .map(renamed)
        .sort()
        .map((n) => ({ datname: n, owner: n })),
    );
  });

  it('lets each service role into its own database and no other', async () => {
    for (const role of names) {
      await expect(asRole(renamed(role), renamed(role))).resolves.toBe(renamed(role));
      for (const other of names.filter((n) => n !== role)) {
        await expect(asRole(renamed(role), renamed(other))).rejects.toThrow(/permission denied/);
      }
    }
  }, 30_000);

  it('lets a service create its tables in its database (PostgreSQL 15+ public schema rules)', async () => {
    const role = renamed('notifier');
    const client = new Client({
      connectionString: TEST_INFRA.pgAdminUrl
        .replace(/\/\/[^@/]*@/, `//${role}@`)
        .replace(/\/[^/]*$/, `/${role}`),
    });
    await client.connect();
    try {
      await client.query('CREATE TABLE probe (id int PRIMARY KEY)');
      await client.query('INSERT INTO probe VALUES (1)');
      const result = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM probe');
      expect(result.rows[0]!.n).toBe(1);
    } finally {
      await client.end();
    }
  });
});
