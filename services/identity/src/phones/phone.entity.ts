import { columnTypes } from '@phonegate/platform';
import { Column, Entity, PrimaryColumn } from 'typeorm';

export type PhoneStatus = 'pending' | 'verified';

/**
 * A number on an account. At most one verified row per E.164 in the whole
 * table (partial unique index), so two accounts racing to verify the same
 * number cannot both win; pending rows block no one.
 */
@Entity({ name: 'phones' })
export class PhoneEntity {
  @PrimaryColumn({ type: columnTypes.uuid })
  id!: string;

  @Column({ name: 'account_id', type: columnTypes.uuid })
  accountId!: string;

  @Column({ type: 'varchar', length: 16 })
  e164!: string;

  @Column({ type: 'varchar', length: 2, nullable: true })
  country!: string | null;

  @Column({ name: 'line_type', type: 'varchar', length: 32 })
  lineType!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: PhoneStatus;

  @Column({ name: 'is_primary', type: 'boolean', default: false })
  primary!: boolean;

  /** Channel of the current verification (sms or voice). */
  @Column({ type: 'varchar', length: 8 })
  channel!: 'sms' | 'voice';

  @Column({ name: 'challenge_id', type: columnTypes.uuid, nullable: true })
  challengeId!: string | null;

  /** Set on the pending number of a change: it replaces this phone once verified. */
  @Column({ name: 'replaces_phone_id', type: columnTypes.uuid, nullable: true })
  replacesPhoneId!: string | null;

  @Column({ name: 'created_at', type: columnTypes.timestamp })
  createdAt!: Date;

  @Column({ name: 'verified_at', type: columnTypes.timestamp, nullable: true })
  verifiedAt!: Date | null;
}
