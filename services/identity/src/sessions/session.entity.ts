import { columnTypes } from '@phonegate/platform';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/** An issued session token (its `sid`); revocation is recorded here. */
@Entity({ name: 'sessions' })
export class SessionEntity {
  @PrimaryColumn({ type: columnTypes.uuid })
  id!: string;

  @Column({ name: 'account_id', type: columnTypes.uuid })
  accountId!: string;

  @Column({ name: 'device_id', type: 'varchar', length: 200 })
  deviceId!: string;

  /** How the person proved it: `pwd` or `pwd+sms` etc. */
  @Column({ type: 'varchar', length: 40 })
  amr!: string;

  @Column({ name: 'created_at', type: columnTypes.timestamp })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: columnTypes.timestamp })
  expiresAt!: Date;

  @Column({ name: 'revoked_at', type: columnTypes.timestamp, nullable: true })
  revokedAt!: Date | null;
}
