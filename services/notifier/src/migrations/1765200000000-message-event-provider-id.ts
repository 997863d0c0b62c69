import { type MigrationInterface, type QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * `message_events.provider_message_id`: the carrier's message id of a copy a carrier took after
 * its call was given up (the late acceptance's `sent` step), so that the receipt of that copy
 * finds its message and lands on its timeline. Null on every other step.
 */
export class MessageEventProviderId1765200000000 implements MigrationInterface {
  name = 'MessageEventProviderId1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn(
      'message_events',
      new TableColumn({
        name: 'provider_message_id',
        type: 'varchar',
        length: '120',
        isNullable: true,
      }),
    );
    await q.createIndex(
      'message_events',
      new TableIndex({
        name: 'message_events_provider_idx',
        columnNames: ['carrier', 'provider_message_id'],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('message_events', 'message_events_provider_idx');
    await q.dropColumn('message_events', 'provider_message_id');
  }
}
