import { columnTypes } from '@phonegate/platform';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * An account identity told otp about: from its `identity.account.created.v1`, or identity's
 * answer to `identity.account.exists.v1` (an account made a moment ago, or before otp kept this
 * list). Only the id: otp keeps no e-mail, no name.
 */
@Entity({ name: 'known_accounts' })
export class KnownAccount {
  @PrimaryColumn({ name: 'account_id', type: columnTypes.uuid })
  accountId!: string;

  /** How otp learnt of it: `event` or `lookup`. */
  @Column({ type: 'varchar', length: 16 })
  source!: string;

  @Column({ name: 'known_at', type: columnTypes.timestamp })
  knownAt!: Date;
}
