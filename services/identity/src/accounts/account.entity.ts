import { columnTypes } from '@phonegate/platform';
import { Column, Entity, PrimaryColumn } from 'typeorm';

export type TwoStepMethod = 'sms' | 'voice' | 'email' | 'totp';

@Entity({ name: 'accounts' })
export class AccountEntity {
  @PrimaryColumn({ type: columnTypes.uuid })
  id!: string;

  /** As the person typed it (shown back). */
  @Column({ type: 'varchar', length: 320 })
  email!: string;

  /** Lower-cased: unique, so e-mail is unique case-insensitively. */
  @Column({ name: 'email_normalized', type: 'varchar', length: 320 })
  emailNormalized!: string;

  @Column({ name: 'password_hash', type: 'varchar', length: 512 })
  passwordHash!: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  name!: string | null;

  @Column({ type: 'varchar', length: 10 })
  locale!: string;

  @Column({ name: 'two_step_enabled', type: 'boolean', default: false })
  twoStepEnabled!: boolean;

  @Column({ name: 'two_step_method', type: 'varchar', length: 10, nullable: true })
  twoStepMethod!: TwoStepMethod | null;

  @Column({ name: 'two_step_backup_method', type: 'varchar', length: 10, nullable: true })
  twoStepBackupMethod!: TwoStepMethod | null;

  /** Sessions issued before this instant are revoked (password change). */
  @Column({ name: 'sessions_valid_after', type: columnTypes.timestamp, nullable: true })
  sessionsValidAfter!: Date | null;

  @Column({ name: 'created_at', type: columnTypes.timestamp })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: columnTypes.timestamp })
  updatedAt!: Date;
}
