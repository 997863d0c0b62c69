import { type MigrationInterface, type QueryRunner, TableIndex } from 'typeorm';

const INDEX = 'message_events_provider_idx';
/** pg_try_advisory_lock key of this build ('notifier provider idx'): one replica builds it. */
const LOCK_KEY = 7_106_031_265_200_001;
const LOCK_RETRY_MS = 250;

/**
 * The index the receipt of a late copy is looked up by (`carrier`, `provider_message_id`), only
 * over the rows that have one. On PostgreSQL it is built `CONCURRENTLY` outside any transaction
 * (`transaction = false`; the data source runs migrations with `migrationsTransactionMode:
 * 'each'`), so writers and the timeline's readers go on during the build however big
 * message_events is.
 *
 * A concurrent build that failed (a crash, a cancelled statement, a deadlock) leaves an INVALID
 * index behind, and this migration is then not recorded: the next start drops the invalid index
 * and builds it again. Replicas starting together take turns on an advisory lock (tried, never
 * waited on inside a statement: a session blocked in `pg_advisory_lock` would hold a snapshot
 * the concurrent build waits for), so one never drops an index another is still building.
 * Other drivers (sql.js) build it plainly.
 */
export class MessageEventProviderIndex1765200000001 implements MigrationInterface {
  name = 'MessageEventProviderIndex1765200000001';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.driver.options.type !== 'postgres') {
      await q.createIndex(
        'message_events',
        new TableIndex({
          name: INDEX,
          columnNames: ['carrier', 'provider_message_id'],
          where: 'provider_message_id IS NOT NULL',
        }),
      );
      return;
    }
    while (!(await tryLock(q))) await new Promise((r) => setTimeout(r, LOCK_RETRY_MS));
    try {
      const [state] = (await q.query(
        `SELECT i.indisvalid AS valid FROM pg_index i
           JOIN pg_class c ON c.oid = i.indexrelid
          WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace`,
        [INDEX],
      )) as { valid: boolean }[];
      if (state?.valid) return;
      if (state) await q.query(`DROP INDEX CONCURRENTLY IF EXISTS "${INDEX}"`);
      await q.query(
        `CREATE INDEX CONCURRENTLY IF NOT EXISTS "${INDEX}"
           ON "message_events" ("carrier", "provider_message_id")
           WHERE "provider_message_id" IS NOT NULL`,
      );
    } finally {
      await q.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    if (q.connection.driver.options.type !== 'postgres') {
      await q.dropIndex('message_events', INDEX);
      return;
    }
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS "${INDEX}"`);
  }
}

async function tryLock(q: QueryRunner): Promise<boolean> {
  const [row] = (await q.query('SELECT pg_try_advisory_lock($1) AS locked', [LOCK_KEY])) as {
    locked: boolean;
  }[];
  return row?.locked === true;
}
