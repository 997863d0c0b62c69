import { columnTypes } from '@phonegate/platform';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A device an account has signed in from; remembered when `rememberedUntil` is in the future. */
@Entity({ name: 'devices' })
export class DeviceEntity {
  @PrimaryColumn({ name: 'account_id', type: columnTypes.uuid })
  accountId!: string;

  @PrimaryColumn({ name: 'device_id', type: 'varchar', length: 200 })
  deviceId!: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  name!: string | null;

  @Column({ name: 'last_country', type: 'varchar', length: 2, nullable: true })
  lastCountry!: string | null;

  @Column({ name: 'remembered_until', type: columnTypes.timestamp, nullable: true })
  rememberedUntil!: Date | null;

  @Column({ name: 'first_seen_at', type: columnTypes.timestamp })
  firstSeenAt!: Date;

  @Column({ name: 'last_seen_at', type: columnTypes.timestamp })
  lastSeenAt!: Date;
}
