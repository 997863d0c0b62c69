import type { Envelope } from '@phonegate/contracts';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * A row of the transactional outbox (SECURITY M5): an event written in the
 * same transaction as the business change, published later by OutboxRelay.
 * The envelope is stored as it will travel, sensitive fields already encrypted.
 */
@Entity({ name: 'outbox' })
@Index('outbox_unsent_idx', ['createdAt'], { where: 'sent_at IS NULL' })
@Index('outbox_sent_idx', ['sentAt'], { where: 'sent_at IS NOT NULL' })
export class OutboxMessage {
  @PrimaryColumn('uuid')
  id!: string;

  @Column({ name: 'routing_key', type: 'varchar', length: 255 })
  routingKey!: string;

  @Column({ type: 'jsonb' })
  envelope!: Envelope;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'clock_timestamp()' })
  createdAt!: Date;

  @Column({ name: 'sent_at', type: 'timestamptz', nullable: true })
  sentAt!: Date | null;

  @Column({ type: 'int', default: 0 })
  attempts!: number;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;
}
