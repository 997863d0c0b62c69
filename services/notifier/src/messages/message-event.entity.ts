import { columnTypes } from '@phonegate/platform';
import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import type { MessageStatus } from './message.entity';

/** One step of a message's status timeline (insert-only, so concurrent writers never lose a step). */
@Entity({ name: 'message_events' })
@Index('message_events_message_idx', ['messageId', 'id'])
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
}
