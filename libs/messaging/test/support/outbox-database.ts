import { createTestDatabase, type TestDatabase } from '@phonegate/platform/testing';
import { DataSource } from 'typeorm';
import { CreateOutbox1732240000000 } from '../../src/outbox/create-outbox.migration';
import { OutboxMessage } from '../../src/outbox/outbox-message.entity';

export interface OutboxDatabase {
  db: TestDatabase;
  /** Initialised, with the outbox migration run. */
  dataSource: DataSource;
  /** Closes the data source and drops the database. */
  drop(): Promise<void>;
}

/** A PostgreSQL database of the test's own holding the outbox table, as a service's migration makes it. */
export async function createOutboxDatabase(prefix = 'pg_messaging'): Promise<OutboxDatabase> {
  const db = await createTestDatabase(prefix);
  const dataSource = new DataSource({
    type: 'postgres',
    url: db.url,
    entities: [OutboxMessage],
    migrations: [CreateOutbox1732240000000],
    logging: false,
  });
  await dataSource.initialize();
  await dataSource.runMigrations();
  return {
    db,
    dataSource,
    async drop() {
      if (dataSource.isInitialized) await dataSource.destroy();
      await db.drop();
    },
  };
}
