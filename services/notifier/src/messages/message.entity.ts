import { columnTypes } from '@phonegate/platform';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** WIRE VALUES (stored, answered by GET /v1/messages/:id): never rename one. */
export const MESSAGE_STATUSES = [
  'queued',
  'sending',
  'sent',
  'delivered',
  'failed',
  'dropped',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];
export const TERMINAL_STATUSES: readonly MessageStatus[] = [
  'sent',
  'delivered',
  'failed',
  'dropped',
];

/**
 * One message of the log. Never holds a code or a full destination: the body
 * is the copy rendered with the code masked, the destination is masked plus a
 * keyed hash (HMAC) for look-up.
 */
@Entity({ name: 'messages' })
@Index('messages_dedupe_key_uq', ['dedupeKey'], { unique: true })
@Index('messages_destination_hash_idx', ['destinationHash'])
@Index('messages_provider_idx', ['carrier', 'providerMessageId'])
export class MessageRecord {
  @PrimaryColumn({ type: columnTypes.uuid })
  id!: string;

  @Column({ name: 'dedupe_key', type: 'varchar', length: 200, nullable: true })
  dedupeKey!: string | null;

  @Column({ type: 'varchar', length: 16 })
  priority!: string;

  @Column({ type: 'varchar', length: 8 })
  channel!: string;

  @Column({ type: 'varchar', length: 100 })
  template!: string;

  @Column({ type: 'varchar', length: 10 })
  locale!: string;

  @Column({ name: 'account_id', type: 'varchar', length: 100, nullable: true })
  accountId!: string | null;

  @Column({ name: 'destination_masked', type: 'varchar', length: 100, nullable: true })
  destinationMasked!: string | null;

  /** `kid:hex` of HMAC-SHA256(key, destination). */
  @Column({ name: 'destination_hash', type: 'varchar', length: 100, nullable: true })
  destinationHash!: string | null;

  @Column({ type: 'varchar', length: 400, nullable: true })
  subject!: string | null;

  /** The text as sent but with every code masked. */
  @Column({ type: 'text' })
  body!: string;

  @Column({ type: 'int', nullable: true })
  segments!: number | null;

  @Column({ type: 'varchar', length: 8, nullable: true })
  encoding!: string | null;

  @Column({ type: 'varchar', length: 16 })
  status!: MessageStatus;

  @Column({ type: 'varchar', length: 50, nullable: true })
  carrier!: string | null;

  @Column({ name: 'provider_message_id', type: 'varchar', length: 120, nullable: true })
  providerMessageId!: string | null;

  @Column({ type: 'int', default: 0 })
  attempts!: number;

  @Column({ type: 'varchar', length: 200, nullable: true })
  reason!: string | null;

  @Column({ name: 'not_after', type: columnTypes.timestamp, nullable: true })
  notAfter!: Date | null;

  /** When the message was asked for (envelope time): latency and lag are measured from here. */
  @Column({ name: 'requested_at', type: columnTypes.timestamp })
  requestedAt!: Date;

  @Column({ name: 'origin_service', type: 'varchar', length: 50, nullable: true })
  originService!: string | null;

  @Column({ name: 'origin_ref', type: 'varchar', length: 200, nullable: true })
  originRef!: string | null;

  @Column({ name: 'created_at', type: columnTypes.timestamp })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: columnTypes.timestamp })
  updatedAt!: Date;

  /**
   * When the worker holding a `sending` row last claimed or renewed it, on the database's clock
   * (set by the database on insert and by `MessageClaims`; no replica's clock ever goes here).
   */
  @Column({ name: 'claimed_at', type: columnTypes.timestamp, default: () => 'CURRENT_TIMESTAMP' })
  claimedAt!: Date;
}
