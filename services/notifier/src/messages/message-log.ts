import type { Channel, EventContract, EventData, Priority } from '@phonegate/contracts';
import type { MessageStatus } from './message.entity';

export interface Origin {
  service: string;
  ref?: string;
}

/** A message as it enters the log. Holds no code and no full destination. */
export interface NewMessage {
  id: string;
  dedupeKey?: string;
  priority: Priority;
  channel: Channel;
  template: string;
  locale: string;
  accountId?: string;
  destinationMasked?: string;
  destinationHash?: string;
  subject?: string;
  /** Rendered with every code masked. */
  body: string;
  segments?: number | null;
  encoding?: string | null;
  notAfter?: Date;
  requestedAt: Date;
  origin?: Origin;
}

/**
 * One carrier's part in an attempt no carrier took: `attempt_failed: <kind>` (it was called and
 * failed) or `attempt_skipped: <why>` (passed over: breaker open, rate-limited...), naming the
 * carrier when there was one.
 */
export interface AttemptStep {
  carrier?: string;
  reason: string;
}

export interface TimelineEntry {
  status: MessageStatus;
  at: Date;
  carrier?: string;
  reason?: string;
}

export interface MessageView {
  id: string;
  priority: Priority;
  channel: Channel;
  template: string;
  locale: string;
  accountId: string | null;
  destinationMasked: string | null;
  subject: string | null;
  body: string;
  segments: number | null;
  encoding: string | null;
  status: MessageStatus;
  carrier: string | null;
  providerMessageId: string | null;
  attempts: number;
  reason: string | null;
  notAfter: Date | null;
  requestedAt: Date;
  origin: Origin | null;
  createdAt: Date;
  updatedAt: Date;
}

/** An event to publish (through the outbox) with the insert, in the same transaction. */
export interface PublishWith<C extends EventContract = EventContract> {
  contract: C;
  data: EventData<C>;
}

export type InsertResult = 'inserted' | 'exists' | 'duplicate';
/**
 * `message` (its priority and channel) is there when the receipt changed the message's own
 * status (`applyReceipt`), not for a late copy's step (`applyLateCopyReceipt`).
 */
export type ReceiptResult =
  | { applied: true; messageId: string; message?: { priority: Priority; channel: Channel } }
  | { applied: false; why: 'unknown' | 'already_final' };

/**
 * The message log: one row per message with an insert-only status timeline.
 * Every change that other services must hear about (sent, delivered, failed,
 * dropped) writes its outcome event to the outbox in the same transaction.
 */
export abstract class MessageLog {
  abstract find(id: string): Promise<MessageView | undefined>;
  /** The status alone (the hot path's idempotency check). */
  abstract statusOf(id: string): Promise<{ status: MessageStatus; attempts: number } | undefined>;
  abstract timeline(id: string): Promise<TimelineEntry[]>;
  /**
   * The message and its timeline read from one snapshot, so that a receipt landing
   * between the two reads can't show `delivered` on the timeline with `sent` as the status.
   */
  abstract findWithTimeline(
    id: string,
  ): Promise<{ message: MessageView; timeline: TimelineEntry[] } | undefined>;
  /** `queued` row (+ timeline), unless the id exists (`exists`) or another message holds the dedupeKey (`duplicate`). */
  abstract insertQueued(
    message: NewMessage,
    at: Date,
    publish?: PublishWith,
  ): Promise<InsertResult>;
  /**
   * A message from the bus about to be tried at once: the row goes in as `sending` with its
   * first attempt counted (timeline: queued at the request time, then sending).
   */
  abstract insertSending(message: NewMessage, at: Date): Promise<InsertResult>;
  /** A message refused before any attempt: a `dropped` row, its timeline and notification.dropped.v1. */
  abstract insertDropped(message: NewMessage, at: Date, reason: string): Promise<InsertResult>;
  /** queued|sending → sending, attempts + 1; resolves with the attempt number, or undefined when no longer sendable. */
  abstract markSending(id: string, at: Date): Promise<number | undefined>;
  /**
   * An attempt every carrier failed, to be retried: the message's reason, and a `sending` step a
   * carrier (never `failed`, which reads as final: it is only the outcome); the message stays
   * sendable.
   */
  abstract recordAttemptFailed(
    id: string,
    at: Date,
    reason: string,
    steps: readonly AttemptStep[],
  ): Promise<void>;
  /**
   * A carrier took the message after the send had given up on it (see carriers' LateAcceptance):
   * a `sent` timeline step naming that carrier, with the reason, counted as an attempt; the
   * message's status, carrier and events are left as they are. False when the id is unknown.
   */
  abstract recordLateAcceptance(
    id: string,
    at: Date,
    carrier: string,
    reason: string,
    providerMessageId?: string,
  ): Promise<boolean>;
  /**
   * The receipt of a copy a carrier took late (recorded by `recordLateAcceptance` with its
   * carrier message id): a `delivered` or `failed` step naming the copy on its message's
   * timeline. The message's status, carrier and events stay those of the copy the send
   * recorded. `unknown` when no late copy has that id, `already_final` when its receipt is in.
   */
  abstract applyLateCopyReceipt(
    carrier: string,
    providerMessageId: string,
    status: 'delivered' | 'failed',
    at: Date,
    reason?: string,
  ): Promise<ReceiptResult>;
  /**
   * queued|sending → sent with the carrier and its message id, + notification.sent.v1. False when
   * already past it. `reason` goes on the `sent` step only (e.g. `recorded_late: …` when a later
   * delivery writes down what the carrier took before), never on the message or its event.
   */
  abstract recordSent(
    id: string,
    at: Date,
    carrier: string,
    providerMessageId: string,
    reason?: string,
  ): Promise<boolean>;
  /** queued|sending → failed or dropped with the reason, + notification.failed.v1 / .dropped.v1. */
  abstract recordFinal(
    id: string,
    at: Date,
    status: 'failed' | 'dropped',
    reason: string,
    carrier?: string,
  ): Promise<boolean>;
  /** A delivery receipt: sending|sent → delivered|failed, + notification.delivered.v1 / .failed.v1. */
  abstract applyReceipt(
    carrier: string,
    providerMessageId: string,
    status: 'delivered' | 'failed',
    at: Date,
    reason?: string,
  ): Promise<ReceiptResult>;
}
