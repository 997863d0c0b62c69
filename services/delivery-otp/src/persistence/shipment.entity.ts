import { columnTypes } from '@phonegate/platform';
import { Column, Entity, PrimaryColumn } from 'typeorm';

export type ShipmentStatus = 'awaiting_handoff' | 'handed_off' | 'cancelled';

/**
 * What this service knows of a shipment out for delivery: the local
 * projection of the logistics events and calls, with the contact the code is
 * sent to. Never the code (that lives sealed in Redis only).
 */
@Entity({ name: 'shipments' })
export class ShipmentEntity {
  @PrimaryColumn({ type: 'varchar', length: 100 })
  id!: string;

  @Column({ name: 'order_id', type: 'varchar', length: 100 })
  orderId!: string;

  @Column({ name: 'account_id', type: 'varchar', length: 100 })
  accountId!: string;

  @Column({ name: 'merchant_id', type: 'varchar', length: 100, nullable: true })
  merchantId!: string | null;

  @Column({ name: 'courier_id', type: 'varchar', length: 100 })
  courierId!: string;

  @Column({ type: 'varchar', length: 20, nullable: true })
  phone!: string | null;

  @Column({ type: 'varchar', length: 320, nullable: true })
  email!: string | null;

  @Column({ type: 'varchar', length: 20 })
  locale!: string;

  @Column({ name: 'window_start', type: columnTypes.timestamp })
  windowStart!: Date;

  @Column({ name: 'window_end', type: columnTypes.timestamp })
  windowEnd!: Date;

  @Column({ name: 'expires_at', type: columnTypes.timestamp })
  expiresAt!: Date;

  @Column({ type: 'varchar', length: 20 })
  status!: ShipmentStatus;

  /** Bumped at every new code (issue or regenerate). */
  @Column({ name: 'code_generation', type: 'int' })
  codeGeneration!: number;

  @Column({ name: 'handed_off_at', type: columnTypes.timestamp, nullable: true })
  handedOffAt!: Date | null;

  @Column({ name: 'handed_off_device_id', type: 'varchar', length: 100, nullable: true })
  handedOffDeviceId!: string | null;

  /** The handoff's spent attempts carried to the next code (as of the last failed attempt, cancel, unlock or regenerate). */
  @Column({ name: 'handoff_attempts', type: 'int', default: 0 })
  handoffAttempts!: number;

  /** The handoff's lock carried to the next code (as of the last failed attempt, cancel, unlock or regenerate). */
  @Column({ name: 'handoff_locked', type: 'boolean', default: false })
  handoffLocked!: boolean;

  /** The customer's regenerations so far (SECURITY C9: the cap counts across codes). */
  @Column({ type: 'int', default: 0 })
  regenerations!: number;

  /** When the last code was sent (issue or regenerate): the regenerate cooldown runs from it. */
  @Column({ name: 'last_code_sent_at', type: columnTypes.timestamp, nullable: true })
  lastCodeSentAt!: Date | null;

  @Column({ name: 'created_at', type: columnTypes.timestamp })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: columnTypes.timestamp })
  updatedAt!: Date;
}
