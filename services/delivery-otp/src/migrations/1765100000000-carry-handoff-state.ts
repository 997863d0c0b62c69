import { columnTypes } from '@phonegate/platform';
import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';

/**
 * What a shipment's next code inherits from its last one, on the row so that
 * a cancel (which deletes the code from Redis) or the loss of Redis is no way
 * out of a handoff lock or the regeneration cap (SECURITY C5, C9).
 */
export class CarryHandoffState1765100000000 implements MigrationInterface {
  name = 'CarryHandoffState1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('shipments', [
      new TableColumn({ name: 'handoff_attempts', type: 'int', default: 0 }),
      new TableColumn({ name: 'handoff_locked', type: 'boolean', default: false }),
      new TableColumn({ name: 'regenerations', type: 'int', default: 0 }),
      new TableColumn({ name: 'last_code_sent_at', type: columnTypes.timestamp, isNullable: true }),
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const column of ['last_code_sent_at', 'regenerations', 'handoff_locked', 'handoff_attempts']) await q.dropColumn('shipments', column);
  }
}
