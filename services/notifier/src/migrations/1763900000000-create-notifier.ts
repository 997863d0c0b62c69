import { columnTypes } from '@phonegate/platform';
import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';

const ts = columnTypes.timestamp;
const uuid = columnTypes.uuid;

/** Message log with its timeline, and the contact projection (portable: TypeORM's schema API, no raw SQL). */
export class CreateNotifier1763900000000 implements MigrationInterface {
  name = 'CreateNotifier1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'messages',
        columns: [
          { name: 'id', type: uuid, isPrimary: true },
          { name: 'dedupe_key', type: 'varchar', length: '200', isNullable: true },
          { name: 'priority', type: 'varchar', length: '16' },
          { name: 'channel', type: 'varchar', length: '8' },
          { name: 'template', type: 'varchar', length: '100' },
          { name: 'locale', type: 'varchar', length: '10' },
          { name: 'account_id', type: 'varchar', length: '100', isNullable: true },
          { name: 'destination_masked', type: 'varchar', length: '100', isNullable: true },
          { name: 'destination_hash', type: 'varchar', length: '100', isNullable: true },
          { name: 'subject', type: 'varchar', length: '400', isNullable: true },
          { name: 'body', type: 'text' },
          { name: 'segments', type: 'int', isNullable: true },
          { name: 'encoding', type: 'varchar', length: '8', isNullable: true },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'carrier', type: 'varchar', length: '50', isNullable: true },
          { name: 'provider_message_id', type: 'varchar', length: '120', isNullable: true },
          { name: 'attempts', type: 'int', default: 0 },
          { name: 'reason', type: 'varchar', length: '200', isNullable: true },
          { name: 'not_after', type: ts, isNullable: true },
          { name: 'requested_at', type: ts },
          { name: 'origin_service', type: 'varchar', length: '50', isNullable: true },
          { name: 'origin_ref', type: 'varchar', length: '200', isNullable: true },
          { name: 'created_at', type: ts },
          { name: 'updated_at', type: ts },
        ],
      }),
    );
    // At most one message per dedupeKey, for good (Redis remembers them only for a while).
    await q.createIndex(
      'messages',
      new TableIndex({
        name: 'messages_dedupe_key_uq',
        columnNames: ['dedupe_key'],
        isUnique: true,
      }),
    );
    await q.createIndex(
      'messages',
      new TableIndex({ name: 'messages_destination_hash_idx', columnNames: ['destination_hash'] }),
    );
    await q.createIndex(
      'messages',
      new TableIndex({
        name: 'messages_provider_idx',
        columnNames: ['carrier', 'provider_message_id'],
      }),
    );

    await q.createTable(
      new Table({
        name: 'message_events',
        columns: [
          {
            name: 'id',
            type: 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          { name: 'message_id', type: uuid },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'at', type: ts },
          { name: 'carrier', type: 'varchar', length: '50', isNullable: true },
          { name: 'reason', type: 'varchar', length: '200', isNullable: true },
        ],
        foreignKeys: [
          {
            columnNames: ['message_id'],
            referencedTableName: 'messages',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          },
        ],
      }),
    );
    await q.createIndex(
      'message_events',
      new TableIndex({ name: 'message_events_message_idx', columnNames: ['message_id', 'id'] }),
    );

    await q.createTable(
      new Table({
        name: 'contact_accounts',
        columns: [
          { name: 'account_id', type: 'varchar', length: '100', isPrimary: true },
          { name: 'email', type: 'varchar', length: '320', isNullable: true },
          { name: 'locale', type: 'varchar', length: '10', isNullable: true },
          { name: 'order_updates', type: 'boolean', default: true },
          { name: 'updated_at', type: ts },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'contact_phones',
        columns: [
          { name: 'phone_id', type: 'varchar', length: '100', isPrimary: true },
          { name: 'account_id', type: 'varchar', length: '100' },
          { name: 'e164', type: 'varchar', length: '20' },
          { name: 'is_primary', type: 'boolean', default: false },
          { name: 'verified_at', type: ts },
          { name: 'removed_at', type: ts, isNullable: true },
        ],
      }),
    );
    await q.createIndex(
      'contact_phones',
      new TableIndex({ name: 'contact_phones_account_idx', columnNames: ['account_id'] }),
    );
    await q.createIndex(
      'contact_phones',
      new TableIndex({ name: 'contact_phones_e164_idx', columnNames: ['e164'] }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('contact_phones');
    await q.dropTable('contact_accounts');
    await q.dropTable('message_events');
    await q.dropTable('messages');
  }
}
