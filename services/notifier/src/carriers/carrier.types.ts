import type { Channel } from '@phonegate/contracts';

export type { Channel };

/** One message as a carrier sends it. The body may hold a code: never log it. */
export interface OutboundMessage {
  /** Our id (the message log's), for logs and correlation; never sent as content. */
  messageId: string;
  channel: Channel;
  /** E.164 for sms and voice, an address for email. */
  to: string;
  /** SMS text, the text to speak, or the e-mail's text part. */
  body: string;
  /** Sender id / number / address; the carrier's configured default when absent. */
  from?: string;
  /** E-mail subject. */
  subject?: string;
  /** E-mail html part (optional). */
  html?: string;
  /** No attempt may start, or run, past this moment. */
  notAfter?: Date;
  /** Aborts the call (the per-call timeout or the caller giving up). */
  signal: AbortSignal;
  /**
   * A code or a security alert (priority `critical`): it is not used to probe a carrier that
   * has become slow while a faster one can take it (see FailoverSender `slowCallMs`).
   */
  urgent?: boolean;
}

/** A carrier took the message. */
export interface Accepted {
  carrierId: string;
  /** The carrier's id for the message (SMPP message_id of the first segment, HTTP sid, SMTP Message-ID); receipts carry it. */
  providerMessageId: string;
  acceptedAt: Date;
  /** SMS segments submitted (SMPP). */
  segments?: number;
}

/**
 * A carrier's report on a message. `final` statuses end the timeline; `sent` is intermediate.
 * WIRE VALUES of the timeline: do not rename.
 */
export type ReceiptStatus =
  'sent' | 'delivered' | 'undelivered' | 'failed' | 'expired' | 'rejected' | 'unknown';

export interface CarrierReceipt {
  carrierId: string;
  providerMessageId: string;
  status: ReceiptStatus;
  final: boolean;
  /** Carrier status word or error code (`UNDELIV`, `30003`): never message text. */
  errorCode?: string;
  /** Our message id when this process sent the message and still remembers it. */
  messageId?: string;
  at: Date;
}

export type ReceiptListener = (receipt: CarrierReceipt) => void;

/**
 * A carrier took a message after the sender had given up on the call (its deadline passed, or
 * the send was aborted) and moved on: the customer may get a second copy unless the carrier
 * could withdraw it (SMPP cancel_sm).
 */
export interface LateAcceptance {
  carrierId: string;
  /** Our message id. */
  messageId: string;
  /** The carrier's id for the copy it took late. */
  providerMessageId: string;
  at: Date;
  /** Withdrawn before it reached the handset (the carrier confirmed the cancel). */
  cancelled: boolean;
}

export type LateAcceptanceListener = (late: LateAcceptance) => void;

/** A carrier adapter: one protocol, one account. Throws `CarrierError` only. */
export interface Carrier {
  readonly id: string;
  readonly channels: readonly Channel[];
  send(message: OutboundMessage): Promise<Accepted>;
  /** Receipts that arrive over the carrier's own connection (SMPP deliver_sm). */
  onReceipt?(listener: ReceiptListener): void;
  /** Messages it took after their send was given up (see `LateAcceptance`). */
  onLateAcceptance?(listener: LateAcceptanceListener): void;
  /** Connect ahead of the first send (SMPP bind). Optional. */
  start?(): Promise<void>;
  close?(): Promise<void>;
}
