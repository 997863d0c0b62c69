import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';

/**
 * `message_events.provider_message_id`: the carrier's message id of a copy a carrier took after
 * its call was given up (the late acceptance's `sent` step), so that the receipt of that copy
 * finds its message and lands on its timeline. Null on every other step.
 *
 * A nullable column without a default: a catalogue change, no table rewrite. It still needs the
 * table's exclusive lock, so on PostgreSQL it waits for that lock at most `lock_timeout` (behind
 * a long reader every writer would queue behind it): the start fails and the next one retries.
 * Its index is the next migration, built without blocking writes.
 */
export class MessageEventProviderId1765200000000 implements MigrationInterface {
  name = 'MessageEventProviderId1765200000000';

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.driver.options.type === 'postgres') {
      await q.query(`SET LOCAL lock_timeout = '5s'`);
      await q.query(
        `ALTER TABLE "message_events" ADD COLUMN IF NOT EXISTS "provider_message_id" varchar(120)`,
      );
      return;
    }
    await q.addColumn(
      'message_events',
      new TableColumn({
        name: 'provider_message_id',
        type: 'varchar',
        length: '120',
        isNullable: true,
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('message_events', 'provider_message_id');
  }
}
