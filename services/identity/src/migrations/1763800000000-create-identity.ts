import { columnTypes } from '@phonegate/platform';
import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';

const ts = columnTypes.timestamp;
const uuid = columnTypes.uuid;

/** Accounts, phones, devices and sessions (portable: TypeORM's schema API, no raw SQL). */
export class CreateIdentity1763800000000 implements MigrationInterface {
  name = 'CreateIdentity1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'accounts',
        columns: [
          { name: 'id', type: uuid, isPrimary: true },
          { name: 'email', type: 'varchar', length: '320' },
          { name: 'email_normalized', type: 'varchar', length: '320' },
          { name: 'password_hash', type: 'varchar', length: '512' },
          { name: 'name', type: 'varchar', length: '200', isNullable: true },
          { name: 'locale', type: 'varchar', length: '10' },
          { name: 'two_step_enabled', type: 'boolean', default: false },
          { name: 'two_step_method', type: 'varchar', length: '10', isNullable: true },
          { name: 'two_step_backup_method', type: 'varchar', length: '10', isNullable: true },
          { name: 'sessions_valid_after', type: ts, isNullable: true },
          { name: 'created_at', type: ts },
          { name: 'updated_at', type: ts },
        ],
        indices: [{ name: 'accounts_email_normalized_uq', columnNames: ['email_normalized'], isUnique: true }],
      }),
    );
    await q.createTable(
      new Table({
        name: 'phones',
        columns: [
          { name: 'id', type: uuid, isPrimary: true },
          { name: 'account_id', type: uuid },
          { name: 'e164', type: 'varchar', length: '16' },
          { name: 'country', type: 'varchar', length: '2', isNullable: true },
          { name: 'line_type', type: 'varchar', length: '32' },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'is_primary', type: 'boolean', default: false },
          { name: 'channel', type: 'varchar', length: '8' },
          { name: 'challenge_id', type: uuid, isNullable: true },
          { name: 'replaces_phone_id', type: uuid, isNullable: true },
          { name: 'created_at', type: ts },
          { name: 'verified_at', type: ts, isNullable: true },
        ],
        foreignKeys: [{ columnNames: ['account_id'], referencedTableName: 'accounts', referencedColumnNames: ['id'], onDelete: 'CASCADE' }],
      }),
    );
    await q.createIndex('phones', new TableIndex({ name: 'phones_account_idx', columnNames: ['account_id'] }));
    // A number is verified on at most one account; pending rows block no one.
    await q.createIndex(
      'phones',
      new TableIndex({ name: 'phones_verified_e164_uq', columnNames: ['e164'], isUnique: true, where: "status = 'verified'" }),
    );
    await q.createIndex(
      'phones',
      new TableIndex({ name: 'phones_one_primary_uq', columnNames: ['account_id'], isUnique: true, where: 'is_primary = true' }),
    );
    await q.createTable(
      new Table({
        name: 'devices',
        columns: [
          { name: 'account_id', type: uuid, isPrimary: true },
          { name: 'device_id', type: 'varchar', length: '200', isPrimary: true },
          { name: 'name', type: 'varchar', length: '200', isNullable: true },
          { name: 'last_country', type: 'varchar', length: '2', isNullable: true },
          { name: 'remembered_until', type: ts, isNullable: true },
          { name: 'first_seen_at', type: ts },
          { name: 'last_seen_at', type: ts },
        ],
        foreignKeys: [{ columnNames: ['account_id'], referencedTableName: 'accounts', referencedColumnNames: ['id'], onDelete: 'CASCADE' }],
      }),
    );
    await q.createTable(
      new Table({
        name: 'sessions',
        columns: [
          { name: 'id', type: uuid, isPrimary: true },
          { name: 'account_id', type: uuid },
          { name: 'device_id', type: 'varchar', length: '200' },
          { name: 'amr', type: 'varchar', length: '40' },
          { name: 'created_at', type: ts },
          { name: 'expires_at', type: ts },
          { name: 'revoked_at', type: ts, isNullable: true },
        ],
        foreignKeys: [{ columnNames: ['account_id'], referencedTableName: 'accounts', referencedColumnNames: ['id'], onDelete: 'CASCADE' }],
      }),
    );
    await q.createIndex('sessions', new TableIndex({ name: 'sessions_account_idx', columnNames: ['account_id'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('sessions');
    await q.dropTable('devices');
    await q.dropTable('phones');
    await q.dropTable('accounts');
  }
}
