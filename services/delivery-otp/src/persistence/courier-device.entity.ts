import { columnTypes } from '@phonegate/platform';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * A courier's device. The secret is 256 random bits shown once; only its
 * SHA-256 digest is kept (a fast hash is enough for a secret of that
 * strength, and lookups happen on every device request).
 */
@Entity({ name: 'courier_devices' })
export class CourierDeviceEntity {
  @PrimaryColumn({ type: 'varchar', length: 100 })
  id!: string;

  @Column({ name: 'courier_id', type: 'varchar', length: 100 })
  courierId!: string;

  @Column({ type: 'varchar', length: 100, nullable: true })
  name!: string | null;

  @Column({ name: 'secret_digest', type: columnTypes.bytes })
  secretDigest!: Buffer;

  @Column({ name: 'created_at', type: columnTypes.timestamp })
  createdAt!: Date;

  @Column({ name: 'revoked_at', type: columnTypes.timestamp, nullable: true })
  revokedAt!: Date | null;
}
