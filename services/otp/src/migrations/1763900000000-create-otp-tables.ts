import { columnTypes } from '@phonegate/platform';
import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';

export class CreateOtpTables1763900000000 implements MigrationInterface {
  name = 'CreateOtpTables1763900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'totp_authenticators',
        columns: [
          { name: 'id', type: columnTypes.uuid, isPrimary: true },
          { name: 'account_id', type: columnTypes.uuid },
          { name: 'secret_kid', type: 'varchar', length: '16' },
          { name: 'secret_sealed', type: columnTypes.bytes },
          { name: 'confirmed_at', type: columnTypes.timestamp, isNullable: true },
          { name: 'last_used_step', type: 'integer', isNullable: true },
          { name: 'created_at', type: columnTypes.timestamp },
        ],
      }),
      true,
    );
    await queryRunner.createIndex(
      'totp_authenticators',
      new TableIndex({ name: 'totp_authenticators_account_idx', columnNames: ['account_id'] }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'backup_codes',
        columns: [
          { name: 'id', type: columnTypes.uuid, isPrimary: true },
          { name: 'account_id', type: columnTypes.uuid },
          { name: 'set_id', type: columnTypes.uuid },
          { name: 'kid', type: 'varchar', length: '16' },
          { name: 'code_hash', type: 'varchar', length: '64' },
          { name: 'used_at', type: columnTypes.timestamp, isNullable: true },
          { name: 'created_at', type: columnTypes.timestamp },
        ],
      }),
      true,
    );
    await queryRunner.createIndex(
      'backup_codes',
      new TableIndex({
        name: 'backup_codes_account_hash_idx',
        columnNames: ['account_id', 'code_hash'],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('backup_codes', true);
    await queryRunner.dropTable('totp_authenticators', true);
  }
}
