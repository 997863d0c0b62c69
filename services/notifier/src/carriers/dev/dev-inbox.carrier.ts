import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { CarrierError } from '../carrier.errors';
import type {
  Accepted,
  Carrier,
  CarrierReceipt,
  Channel,
  OutboundMessage,
  ReceiptListener,
} from '../carrier.types';

/** One message in the dev inbox: the shape of `GET /dev/inbox/messages` (API.md) plus extras. */
export interface DevInboxMessage {
  id: string;
  channel: Channel;
  to: string;
  body: string;
  status: 'delivered';
  carrier: string;
  createdAt: string;
  from?: string;
  subject?: string;
  html?: string;
  messageId: string;
}

export interface DevInboxCarrierOptions {
  id?: string;
  channels?: readonly Channel[];
  /** Messages kept (oldest dropped). Default 1000. */
  maxMessages?: number;
  /** Report a `delivered` receipt this long after accepting (default 0 = next tick). */
  receiptDelayMs?: number;
}

/**
 * A carrier that keeps every message in memory, for the one-process embedded mode and its dev
 * inbox page. It is chosen by configuration like any other carrier. Emits `message` on each.
 */
export class DevInboxCarrier extends EventEmitter implements Carrier {
  readonly id: string;
  readonly channels: readonly Channel[];
  private readonly messages: DevInboxMessage[] = [];
  private readonly receiptListeners: ReceiptListener[] = [];
  private readonly maxMessages: number;
  private readonly receiptDelayMs: number;

  constructor(options: DevInboxCarrierOptions = {}) {
    super();
    this.id = options.id ?? 'dev-inbox';
    this.channels = options.channels ?? ['sms', 'voice', 'email'];
    this.maxMessages = options.maxMessages ?? 1000;
    this.receiptDelayMs = options.receiptDelayMs ?? 0;
  }

  async send(message: OutboundMessage): Promise<Accepted> {
    if (!this.channels.includes(message.channel))
      throw CarrierError.rejected(this.id, `${this.id}: channel ${message.channel} not enabled`);
    if (message.signal.aborted) throw CarrierError.timeout(this.id, `${this.id}: send aborted`);
    const record: DevInboxMessage = {
      id: randomUUID(),
      channel: message.channel,
      to: message.to,
      body: message.body,
      status: 'delivered',
      carrier: this.id,
      createdAt: new Date().toISOString(),
      messageId: message.messageId,
      ...(message.from ? { from: message.from } : {}),
      ...(message.subject !== undefined ? { subject: message.subject } : {}),
      ...(message.html ? { html: message.html } : {}),
    };
    this.messages.push(record);
    if (this.messages.length > this.maxMessages)
      this.messages.splice(0, this.messages.length - this.maxMessages);
    this.emit('message', record);
    const receipt: CarrierReceipt = {
      carrierId: this.id,
      providerMessageId: record.id,
      messageId: message.messageId,
      status: 'delivered',
      final: true,
      at: new Date(),
    };
    const timer = setTimeout(() => {
      for (const l of this.receiptListeners) l(receipt);
    }, this.receiptDelayMs);
    timer.unref();
    return { carrierId: this.id, providerMessageId: record.id, acceptedAt: new Date() };
  }

  onReceipt(listener: ReceiptListener): void {
    this.receiptListeners.push(listener);
  }

  /** Newest first, like `GET /dev/inbox/messages?to=&channel=&limit=`. */
  list(query: { to?: string; channel?: Channel; limit?: number } = {}): DevInboxMessage[] {
    const limit = Math.max(1, Math.min(query.limit ?? 50, this.maxMessages));
    const out: DevInboxMessage[] = [];
    for (let i = this.messages.length - 1; i >= 0 && out.length < limit; i--) {
      const m = this.messages[i]!;
      if (query.to !== undefined && m.to.toLowerCase() !== query.to.toLowerCase()) continue;
      if (query.channel !== undefined && m.channel !== query.channel) continue;
      out.push(m);
    }
    return out;
  }

  clear(): void {
    this.messages.length = 0;
  }
}
