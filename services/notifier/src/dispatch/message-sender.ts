import type { Channel, Priority } from '@phonegate/contracts';

/** What the dispatcher hands to the carriers (the only place a code exists in clear, in memory). */
export interface OutboundMessage {
  messageId: string;
  channel: Channel;
  /** E.164 or an e-mail address. */
  to: string;
  text: string;
  subject?: string;
  priority: Priority;
  /** The last moment a carrier may take the message; no attempt starts or runs past it. */
  notAfter: Date;
}

/** One carrier tried for a message, for metrics and the timeline. */
export interface CarrierTry {
  carrier: string;
  outcome: 'accepted' | 'failed' | 'rejected' | 'skipped';
  reason?: string;
  latencyMs?: number;
}

export type SendResult =
  | { outcome: 'sent'; carrier: string; providerMessageId: string; tried: CarrierTry[] }
  /** The recipient's fault (invalid number, blocked, opted out): no other carrier or retry can fix it. */
  | { outcome: 'rejected'; carrier?: string; reason: string; tried: CarrierTry[] }
  /** Every carrier failed, was open or throttled: worth trying again later. */
  | { outcome: 'unavailable'; reason: string; tried: CarrierTry[] };

/** The port the dispatcher sends through (the carriers' FailoverSender behind an adapter). */
export abstract class MessageSender {
  abstract send(message: OutboundMessage): Promise<SendResult>;
}
