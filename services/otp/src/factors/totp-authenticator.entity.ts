import { columnTypes } from '@phonegate/platform';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * A TOTP authenticator of an account. The secret is sealed with AES-256-GCM
 * (key id stored beside it, SECURITY C10/L3); `last_used_step` is the last
 * RFC 6238 time step accepted, advanced atomically so no step is accepted twice.
 */
@Entity({ name: 'totp_authenticators' })
@Index('totp_authenticators_account_idx', ['accountId'])
export class TotpAuthenticator {
  @PrimaryColumn({ type: columnTypes.uuid })
  id!: string;

  @Column({ name: 'account_id', type: columnTypes.uuid })
  accountId!: string;

  @Column({ name: 'secret_kid', type: 'varchar', length: 16 })
  secretKid!: string;

  @Column({ name: 'secret_sealed', type: columnTypes.bytes })
  secretSealed!: Buffer;

  @Column({ name: 'confirmed_at', type: columnTypes.timestamp, nullable: true })
  confirmedAt!: Date | null;

  @Column({ name: 'last_used_step', type: 'integer', nullable: true })
  lastUsedStep!: number | null;

  @Column({ name: 'created_at', type: columnTypes.timestamp })
  createdAt!: Date;
}
