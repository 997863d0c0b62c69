import { columnTypes } from '@phonegate/platform';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** Projection of identity's verified numbers. A removed number keeps its row (tombstone) so a late event cannot revive it. */
@Entity({ name: 'contact_phones' })
@Index('contact_phones_account_idx', ['accountId'])
@Index('contact_phones_e164_idx', ['e164'])
export class ContactPhoneRecord {
  @PrimaryColumn({ name: 'phone_id', type: 'varchar', length: 100 })
  phoneId!: string;

  @Column({ name: 'account_id', type: 'varchar', length: 100 })
  accountId!: string;

  @Column({ type: 'varchar', length: 20 })
  e164!: string;

  @Column({ name: 'is_primary', type: 'boolean', default: false })
  primary!: boolean;

  @Column({ name: 'verified_at', type: columnTypes.timestamp })
  verifiedAt!: Date;

  /** When identity made it primary (null: before this was kept, `verifiedAt` stands in). */
  @Column({ name: 'primary_since', type: columnTypes.timestamp, nullable: true })
  primarySince!: Date | null;

  @Column({ name: 'removed_at', type: columnTypes.timestamp, nullable: true })
  removedAt!: Date | null;
}
