import { createTestDatabase, type TestDatabase } from '@phonegate/platform/testing';
import { Client } from 'pg';
import { DataSource as SqlDataSource, type DataSource, type QueryRunner } from 'typeorm';
import { spawn } from 'node:child_process';
import { createNotifierDataSource } from '../../src/infrastructure';
import { NOTIFIER_MIGRATIONS } from '../../src/migrations';

jest.setTimeout(60_000);

const INDEX = 'message_events_provider_idx';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The migrations up to (without) the provider id index, as a database released before it. */
const BEFORE_INDEX = NOTIFIER_MIGRATIONS.filter(
  (m) => m.name !== 'MessageEventProviderIndex1765200000001',
);

/**
 * The notifier's migrations on real PostgreSQL as a replica runs them at start (migrationsRun
 * through createNotifierDataSource): the provider id index is built without stopping writers,
 * a failed concurrent build is repaired on the next start, and the column add does not wait
 * for its lock for ever.
 */
describe('notifier migrations', () => {
  const dbs: TestDatabase[] = [];
  const clients: Client[] = [];
  const sources: DataSource[] = [];

  const database = async (): Promise<TestDatabase> => {
    const db = await createTestDatabase('notifier_mig');
    dbs.push(db);
    return db;
  };
  const client = async (db: TestDatabase): Promise<Client> => {
    const c = new Client({ connectionString: db.url });
    await c.connect();
    clients.push(c);
    return c;
  };
  const start = async (db: TestDatabase, migrations?: unknown[]): Promise<DataSource> => {
    const ds = createNotifierDataSource({ type: 'postgres', url: db.url, logging: false });
    if (migrations) ds.setOptions({ migrations: migrations as never });
    sources.push(ds);
    return ds.initialize();
  };
  const index = async (c: Client) =>
    (
      await c.query<{ valid: boolean; def: string }>(
        `SELECT i.indisvalid AS valid, pg_get_indexdef(i.indexrelid) AS def
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1`,
        [INDEX],
      )
    ).rows;
  /** A message and one event row, for rows to index and writers to write. */
  const seed = async (c: Client): Promise<string> => {
    const id = (
      await c.query<{ id: string }>(
        `INSERT INTO messages (id, priority, channel, template, locale, body, status, requested_at,
           created_at, updated_at)
         VALUES (gen_random_uuid(), 'critical', 'sms', 'otp.sign_in', 'en', 'x', 'sent', now(),
           now(), now())
         RETURNING id`,
      )
    ).rows[0]!.id;
    await c.query(
      `INSERT INTO message_events (message_id, status, at, carrier, provider_message_id)
       VALUES ($1, 'sent', now(), 'smpp-a', 'p-1'), ($1, 'sent', now(), 'smpp-a', NULL)`,
      [id],
    );
    return id;
  };

  afterEach(async () => {
    for (const s of sources.splice(0)) if (s.isInitialized) await s.destroy();
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
    await Promise.all(dbs.splice(0).map((d) => d.drop()));
  });

  it('migrates a fresh database: the column, and a valid partial index over the rows that have a provider id', async () => {
    const db = await database();
    const ds = await start(db);
    const c = await client(db);
    expect(await index(c)).toEqual([
      {
        valid: true,
        def: expect.stringMatching(
          /ON public\.message_events USING btree \(carrier, provider_message_id\) WHERE \(provider_message_id IS NOT NULL\)$/,
        ),
      },
    ]);
    const ran = (await c.query<{ name: string }>('SELECT name FROM migrations ORDER BY id')).rows;
    expect(ran.map((r) => r.name)).toEqual(NOTIFIER_MIGRATIONS.map((m) => m.name));
    // The late copy's receipt finds its step through it.
    await seed(c);
    const plan = (
      await c.query<{ 'QUERY PLAN': string }>(
        `SET enable_seqscan = off;
         EXPLAIN SELECT message_id FROM message_events
          WHERE carrier = 'smpp-a' AND provider_message_id = 'p-1'`,
      )
    ) as unknown as { rows: { 'QUERY PLAN': string }[] }[];
    expect(plan[1]!.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain(INDEX);
    // A second start (another replica, a restart) has nothing left to do.
    await ds.destroy();
    await start(db);
    expect((await c.query('SELECT count(*)::int AS n FROM migrations')).rows[0].n).toBe(
      NOTIFIER_MIGRATIONS.length,
    );
  });

  it('builds the index while writers go on: a transaction open on message_events does not stop other inserts', async () => {
    const db = await database();
    const before = await start(db, BEFORE_INDEX);
    await before.destroy();
    const [open, writer, observer] = [await client(db), await client(db), await client(db)];
    const id = await seed(writer);
    // A transaction in flight: a concurrent build waits for it, a plain one would hold a lock
    // that every other writer queues behind.
    await open.query('BEGIN');
    await open.query(
      `INSERT INTO message_events (message_id, status, at) VALUES ($1, 'sending', now())`,
      [id],
    );
    let migrated = false;
    const migrating = start(db).then(() => (migrated = true));
    await sleep(500);
    expect(migrated).toBe(false);
    const t0 = Date.now();
    await writer.query(
      `INSERT INTO message_events (message_id, status, at, carrier) VALUES ($1, 'delivered', now(), 'smpp-a')`,
      [id],
    );
    await writer.query('SELECT * FROM message_events WHERE message_id = $1 ORDER BY id', [id]);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(migrated).toBe(false);
    // The index under construction is visible, not yet valid.
    expect(await index(observer)).toEqual([expect.objectContaining({ valid: false })]);
    await open.query('COMMIT');
    await migrating;
    expect(await index(observer)).toEqual([expect.objectContaining({ valid: true })]);
  });

  it('drops an index a failed concurrent build left INVALID and builds it again on the next start', async () => {
    const db = await database();
    const before = await start(db, BEFORE_INDEX);
    await before.destroy();
    const c = await client(db);
    const id = await seed(c);
    await c.query(
      `INSERT INTO message_events (message_id, status, at, carrier, provider_message_id)
       VALUES ($1, 'sent', now(), 'smpp-a', 'p-1')`,
      [id],
    );
    // A build that fails half way (here: duplicates for a unique one) leaves the name taken by
    // an INVALID index, which IF NOT EXISTS alone would keep for ever.
    await expect(
      c.query(
        `CREATE UNIQUE INDEX CONCURRENTLY ${INDEX} ON message_events (carrier, provider_message_id)`,
      ),
    ).rejects.toThrow(/could not create unique index/);
    expect(await index(c)).toEqual([expect.objectContaining({ valid: false })]);
    await start(db);
    expect(await index(c)).toEqual([
      {
        valid: true,
        def: expect.stringMatching(/^CREATE INDEX .*WHERE \(provider_message_id IS NOT NULL\)$/),
      },
    ]);
  });

  it('waits for the column’s lock at most lock_timeout behind a long reader, then starts once it is gone', async () => {
    const db = await database();
    const columnBefore = BEFORE_INDEX.filter(
      (m) => m.name !== 'MessageEventProviderId1765200000000',
    );
    const before = await start(db, columnBefore);
    await before.destroy();
    const [reader, writer] = [await client(db), await client(db)];
    await reader.query('BEGIN');
    await reader.query('SELECT count(*) FROM message_events');
    const t0 = Date.now();
    await expect(start(db)).rejects.toThrow(/lock timeout/);
    expect(Date.now() - t0).toBeLessThan(9_000);
    await reader.query('COMMIT');
    await start(db);
    expect(await index(writer)).toEqual([expect.objectContaining({ valid: true })]);
  });
});

/**
 * The embedded mode's database (tools/embedded/src/pglite.ts) in a child process: PGlite is
 * ESM with WebAssembly, which Jest's module registry does not load.
 */
async function startPglite(): Promise<{ url: string; close(): Promise<void> }> {
  const script = `
    const { PGlite } = await import('@electric-sql/pglite');
    const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
    const db = await PGlite.create();
    const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1' });
    await server.start();
    process.stdout.write(server.getServerConn() + '\\n');
    process.stdin.on('end', async () => { await server.stop(); await db.close(); process.exit(0); });
    process.stdin.resume();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: `${__dirname}/../../../..`,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`pglite exited ${code}`)));
  });
  return {
    url: `postgres://postgres@${address}/postgres`,
    close: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.stdin.end();
      }),
  };
}

describe('notifier migrations on the embedded mode’s PGlite (one connection)', () => {
  it('migrates through the same concurrent build', async () => {
    const db = await startPglite();
    const ds = createNotifierDataSource({
      type: 'postgres',
      url: db.url,
      extra: { max: 1 },
      logging: false,
    });
    try {
      await ds.initialize();
      const ran = await ds.query<{ name: string }[]>('SELECT name FROM migrations ORDER BY id');
      expect(ran.map((r) => r.name)).toEqual(NOTIFIER_MIGRATIONS.map((m) => m.name));
      const [idx] = await ds.query<{ valid: boolean; def: string }[]>(
        `SELECT i.indisvalid AS valid, pg_get_indexdef(i.indexrelid) AS def
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1`,
        [INDEX],
      );
      expect(idx).toEqual({
        valid: true,
        def: expect.stringMatching(/WHERE \(provider_message_id IS NOT NULL\)$/),
      });
    } finally {
      if (ds.isInitialized) await ds.destroy();
      await db.close();
    }
  });
});

describe('the provider id migrations on sql.js (the embedded SQLite)', () => {
  it('add the column and build the same partial index plainly (sql.js has no CONCURRENTLY)', async () => {
    // The rest of the notifier's schema (the outbox) is PostgreSQL's (the embedded mode runs
    // PGlite): the events table as the first migration leaves it stands in for it here.
    class Events1700000000000 {
      name = 'Events1700000000000';
      async up(q: QueryRunner): Promise<void> {
        await q.query(
          `CREATE TABLE "message_events" ("id" integer PRIMARY KEY AUTOINCREMENT,
             "message_id" varchar NOT NULL, "status" varchar NOT NULL, "carrier" varchar NULL)`,
        );
      }
      async down(): Promise<void> {}
    }
    const ds = new SqlDataSource({
      type: 'sqljs',
      logging: false,
      migrations: [
        Events1700000000000,
        ...NOTIFIER_MIGRATIONS.filter((m) => m.name.startsWith('MessageEventProvider')),
      ],
      migrationsRun: true,
      migrationsTransactionMode: 'each',
    });
    await ds.initialize();
    try {
      const ran = await ds.query<{ name: string }[]>('SELECT name FROM migrations ORDER BY id');
      expect(ran.map((r) => r.name)).toEqual([
        'Events1700000000000',
        'MessageEventProviderId1765200000000',
        'MessageEventProviderIndex1765200000001',
      ]);
      const [idx] = await ds.query<{ sql: string }[]>(
        `SELECT sql FROM sqlite_master WHERE name = ?`,
        [INDEX],
      );
      expect(idx?.sql).toMatch(
        /\("carrier", "provider_message_id"\) WHERE provider_message_id IS NOT NULL$/,
      );
      await ds.query(
        `INSERT INTO message_events (message_id, status, carrier, provider_message_id)
         VALUES ('m', 'sent', 'smpp-a', 'p-1')`,
      );
      await ds.undoLastMigration();
      await ds.undoLastMigration();
      expect(await ds.query(`SELECT sql FROM sqlite_master WHERE name = ?`, [INDEX])).toEqual([]);
    } finally {
      await ds.destroy();
    }
  });
});
