import { columnTypes } from '@phonegate/platform';
import { type MigrationInterface, type QueryRunner, TableColumn } from 'typeorm';

/**
 * `contact_phones.primary_since`: when identity made the number primary (the event's time), so
 * that a primary flag heard late — a first number's verification delivered after another number
 * was made primary — does not demote a newer primary. Null on rows written before: their
 * `verified_at` stands in. A nullable column without a default (no rewrite); on PostgreSQL the
 * table lock is waited for at most `lock_timeout`.
 */
export class ContactPhonePrimarySince1765300000000 implements MigrationInterface {
  name = 'ContactPhonePrimarySince1765300000000';

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.driver.options.type === 'postgres') {
      await q.query(`SET LOCAL lock_timeout = '5s'`);
      await q.query(
        `ALTER TABLE "contact_phones" ADD COLUMN IF NOT EXISTS "primary_since" timestamptz`,
      );
      return;
    }
    await q.addColumn(
      'contact_phones',
      new TableColumn({ name: 'primary_since', type: columnTypes.timestamp, isNullable: true }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('contact_phones', 'primary_since');
  }
}
