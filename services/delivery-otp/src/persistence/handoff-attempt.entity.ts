import { columnTypes } from '@phonegate/platform';
import { Column, Entity, PrimaryColumn } from 'typeorm';

export type AttemptOutcome =
  | 'confirmed'
  | 'code_mismatch'
  | 'locked'
  | 'refused_locked'
  | 'not_assigned'
  | 'window_closed'
  | 'already_handed_off';

/** Every handoff and failed attempt: who, when (device and server time), where, which device. Never the code. */
@Entity({ name: 'handoff_attempts' })
export class HandoffAttemptEntity {
  @PrimaryColumn({ type: columnTypes.uuid })
  id!: string;

  @Column({ name: 'shipment_id', type: 'varchar', length: 100 })
  shipmentId!: string;

  /** The courier the device belongs to (who tried). */
  @Column({ name: 'courier_id', type: 'varchar', length: 100 })
  courierId!: string;

  @Column({ name: 'device_id', type: 'varchar', length: 100 })
  deviceId!: string;

  @Column({ type: 'varchar', length: 30 })
  outcome!: AttemptOutcome;

  /** Why a time check refused (expired, device_clock_ahead, outside_window). */
  @Column({ type: 'varchar', length: 30, nullable: true })
  reason!: string | null;

  @Column({ name: 'code_generation', type: 'int' })
  codeGeneration!: number;

  @Column({ name: 'attempts_remaining', type: 'int', nullable: true })
  attemptsRemaining!: number | null;

  /** The device's clock (`at` in the request). */
  @Column({ name: 'device_at', type: columnTypes.timestamp })
  deviceAt!: Date;

  /** The server's clock when the attempt was checked. */
  @Column({ name: 'received_at', type: columnTypes.timestamp })
  receivedAt!: Date;

  @Column({ type: columnTypes.json, nullable: true })
  location!: { lat: number; lng: number } | null;

  @Column({ name: 'request_id', type: 'varchar', length: 128, nullable: true })
  requestId!: string | null;
}
