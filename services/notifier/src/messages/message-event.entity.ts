import { columnTypes } from '@phonegate/platform';
import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import type { MessageStatus } from './message.entity';

/** One step of a message's status timeline (insert-only, so concurrent writers never lose a step). */
@Entity({ name: 'message_events' })
@Index('message_events_message_idx', ['messageId', 'id'])
@Index('message_events_provider_idx', ['carrier', 'providerMessageId'], {
  where: '"provider_message_id" IS NOT NULL',
})
export class MessageEventRecord {
  @PrimaryGeneratedColumn('increment')
  id!: number;

  @Column({ name: 'message_id', type: columnTypes.uuid })
  messageId!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: MessageStatus;

  @Column({ type: columnTypes.timestamp })
  at!: Date;

  @Column({ type: 'varchar', length: 50, nullable: true })
  carrier!: string | null;

  @Column({ type: 'varchar', length: 200, nullable: true })
  reason!: string | null;

  /**
   * The carrier's message id of a copy taken after its call was given up (a late acceptance's
   * `sent` step, and that copy's receipt): how the copy's receipt finds its message. Null on
   * every other step (the message row holds the id of the copy the send recorded).
   */
  @Column({ name: 'provider_message_id', type: 'varchar', length: 120, nullable: true })
  providerMessageId!: string | null;
}
