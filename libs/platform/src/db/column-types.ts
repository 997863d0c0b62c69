/**
 * Column types that work on PostgreSQL (production, tests) and on the embedded
 * SQLite (sql.js) of `npm start` without infrastructure. Entities use these
 * instead of naming `jsonb`/`timestamptz` directly. The driver is chosen by
 * DB_DRIVER before entities are imported.
 */
const embedded = process.env['DB_DRIVER'] === 'sqljs';

export const columnTypes = {
  timestamp: (embedded ? 'datetime' : 'timestamptz') as 'timestamptz',
  json: (embedded ? 'simple-json' : 'jsonb') as 'jsonb',
  uuid: (embedded ? 'varchar' : 'uuid') as 'uuid',
  bytes: (embedded ? 'blob' : 'bytea') as 'bytea',
} as const;

export function isEmbeddedDatabase(): boolean {
  return embedded;
}
