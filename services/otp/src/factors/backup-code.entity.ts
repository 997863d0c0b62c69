import { columnTypes } from '@phonegate/platform';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** One backup code, kept only as HMAC(key, backup|accountId|code) with its key id (SECURITY C11). */
@Entity({ name: 'backup_codes' })
@Index('backup_codes_account_hash_idx', ['accountId', 'codeHash'])
export class BackupCode {
  @PrimaryColumn({ type: columnTypes.uuid })
  id!: string;

  @Column({ name: 'account_id', type: columnTypes.uuid })
  accountId!: string;

  @Column({ name: 'set_id', type: columnTypes.uuid })
  setId!: string;

  @Column({ type: 'varchar', length: 16 })
  kid!: string;

  @Column({ name: 'code_hash', type: 'varchar', length: 64 })
  codeHash!: string;

  @Column({ name: 'used_at', type: columnTypes.timestamp, nullable: true })
  usedAt!: Date | null;

  @Column({ name: 'created_at', type: columnTypes.timestamp })
  createdAt!: Date;
}
