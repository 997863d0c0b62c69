import { columnTypes } from '@phonegate/platform';
import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';

/**
 * `messages.claimed_at`: when the worker holding a `sending` row last claimed or renewed it, on
 * the database's clock (never a replica's). Rows get the database's time when they go in; rows
 * already there count as claimed when the migration runs (a crashed holder's row is taken one
 * lease later).
 */
export class MessageClaimedAt1765100000000 implements MigrationInterface {
  name = 'MessageClaimedAt1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn(
      'messages',
      new TableColumn({
        name: 'claimed_at',
        type: columnTypes.timestamp,
        default: 'CURRENT_TIMESTAMP',
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('messages', 'claimed_at');
  }
}
