/**
 * The shapes the dev inbox reads. Structural on purpose: the notifier's
 * DevInboxCarrier satisfies `DevInboxSource` without this tool importing a
 * service (services are never imported by tools or other services).
 */
export type InboxChannel = 'sms' | 'voice' | 'email';

/** One message as the dev-inbox carrier keeps it. */
export interface DevInboxMessage {
  id: string;
  channel: InboxChannel;
  /** E.164 for sms and voice, the address for e-mail. */
  to: string;
  body: string;
  status: string;
  carrier: string;
  createdAt: string;
  /** The notifier's message id (GET /v1/messages/:messageId). */
  messageId: string;
  from?: string;
  subject?: string;
}

export interface DevInboxSource {
  /** Every kept message; any order (sorted here). `limit` is passed high so a carrier's default page does not cut it. */
  list(query?: { limit?: number }): readonly DevInboxMessage[];
  on(event: 'message', listener: (message: DevInboxMessage) => void): unknown;
  off(event: 'message', listener: (message: DevInboxMessage) => void): unknown;
}

export interface TimelineStep {
  status: string;
  at: string;
  carrier?: string | null;
  reason?: string | null;
}

/** What the notifier's GET /v1/messages/:messageId says of a message (only these fields are read). */
export interface MessageStatusView {
  status: string;
  timeline: readonly TimelineStep[];
  carrier?: string | null;
}

export type MessageStatusLookup = (messageId: string) => Promise<MessageStatusView | undefined>;

/** An item of GET /dev/inbox/messages (API.md "Dev and test endpoints") plus extras. */
export interface InboxItem {
  id: string;
  channel: InboxChannel;
  to: string;
  body: string;
  status: string;
  carrier: string;
  createdAt: string;
  messageId: string;
  subject?: string;
  from?: string;
  /** The one-time code the message carries, when it carries one (a dev convenience). */
  code?: string;
}

/** The status of one inbox message as the page shows it (GET /dev/inbox/messages/:id/status, SSE `status`). */
export interface InboxStatus {
  id: string;
  messageId: string;
  status: string;
  carrier: string | null;
  timeline: TimelineStep[];
}
