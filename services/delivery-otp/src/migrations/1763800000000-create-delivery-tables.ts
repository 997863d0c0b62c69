import { columnTypes } from '@phonegate/platform';
import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';

/** Shipments, courier devices and handoff attempts (portable: PostgreSQL and sql.js). */
export class CreateDeliveryTables1763800000000 implements MigrationInterface {
  name = 'CreateDeliveryTables1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'shipments',
        columns: [
          { name: 'id', type: 'varchar', length: '100', isPrimary: true },
          { name: 'order_id', type: 'varchar', length: '100' },
          { name: 'account_id', type: 'varchar', length: '100' },
          { name: 'merchant_id', type: 'varchar', length: '100', isNullable: true },
          { name: 'courier_id', type: 'varchar', length: '100' },
          { name: 'phone', type: 'varchar', length: '20', isNullable: true },
          { name: 'email', type: 'varchar', length: '320', isNullable: true },
          { name: 'locale', type: 'varchar', length: '20' },
          { name: 'window_start', type: columnTypes.timestamp },
          { name: 'window_end', type: columnTypes.timestamp },
          { name: 'expires_at', type: columnTypes.timestamp },
          { name: 'status', type: 'varchar', length: '20' },
          { name: 'code_generation', type: 'int' },
          { name: 'handed_off_at', type: columnTypes.timestamp, isNullable: true },
          { name: 'handed_off_device_id', type: 'varchar', length: '100', isNullable: true },
          { name: 'created_at', type: columnTypes.timestamp },
          { name: 'updated_at', type: columnTypes.timestamp },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'courier_devices',
        columns: [
          { name: 'id', type: 'varchar', length: '100', isPrimary: true },
          { name: 'courier_id', type: 'varchar', length: '100' },
          { name: 'name', type: 'varchar', length: '100', isNullable: true },
          { name: 'secret_digest', type: columnTypes.bytes },
          { name: 'created_at', type: columnTypes.timestamp },
          { name: 'revoked_at', type: columnTypes.timestamp, isNullable: true },
        ],
      }),
    );
    await q.createIndex('courier_devices', new TableIndex({ name: 'ux_courier_devices_secret', columnNames: ['secret_digest'], isUnique: true }));
    await q.createIndex('courier_devices', new TableIndex({ name: 'ix_courier_devices_courier', columnNames: ['courier_id'] }));
    await q.createTable(
      new Table({
        name: 'handoff_attempts',
        columns: [
          { name: 'id', type: columnTypes.uuid, isPrimary: true },
          { name: 'shipment_id', type: 'varchar', length: '100' },
          { name: 'courier_id', type: 'varchar', length: '100' },
          { name: 'device_id', type: 'varchar', length: '100' },
          { name: 'outcome', type: 'varchar', length: '30' },
          { name: 'reason', type: 'varchar', length: '30', isNullable: true },
          { name: 'code_generation', type: 'int' },
          { name: 'attempts_remaining', type: 'int', isNullable: true },
          { name: 'device_at', type: columnTypes.timestamp },
          { name: 'received_at', type: columnTypes.timestamp },
          { name: 'location', type: columnTypes.json, isNullable: true },
          { name: 'request_id', type: 'varchar', length: '128', isNullable: true },
        ],
      }),
    );
    await q.createIndex('handoff_attempts', new TableIndex({ name: 'ix_handoff_attempts_shipment', columnNames: ['shipment_id', 'received_at'] }));
    // At most one confirmed handoff per shipment, whatever happens upstream.
    await q.createIndex(
      'handoff_attempts',
      new TableIndex({ name: 'ux_handoff_attempts_confirmed', columnNames: ['shipment_id'], isUnique: true, where: "outcome = 'confirmed'" }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('handoff_attempts');
    await q.dropTable('courier_devices');
    await q.dropTable('shipments');
  }
}
