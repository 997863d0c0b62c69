import { columnTypes } from '@phonegate/platform';
import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';

/** The accounts otp knows identity has (see `KnownAccounts`); additive, empty at first. */
export class CreateKnownAccounts1765200000000 implements MigrationInterface {
  name = 'CreateKnownAccounts1765200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'known_accounts',
        columns: [
          { name: 'account_id', type: columnTypes.uuid, isPrimary: true },
          { name: 'source', type: 'varchar', length: '16' },
          { name: 'known_at', type: columnTypes.timestamp },
        ],
      }),
      true,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('known_accounts', true);
  }
}
