import { columnTypes } from '@phonegate/platform';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Projection of identity's accounts: the e-mail and locale, and the owner's notification preferences. */
@Entity({ name: 'contact_accounts' })
export class ContactAccountRecord {
  @PrimaryColumn({ name: 'account_id', type: 'varchar', length: 100 })
  accountId!: string;

  @Column({ type: 'varchar', length: 320, nullable: true })
  email!: string | null;

  @Column({ type: 'varchar', length: 10, nullable: true })
  locale!: string | null;

  /** The owner's choice (PUT …/notification-preferences): order updates by SMS. */
  @Column({ name: 'order_updates', type: 'boolean', default: true })
  orderUpdates!: boolean;

  @Column({ name: 'updated_at', type: columnTypes.timestamp })
  updatedAt!: Date;
}
