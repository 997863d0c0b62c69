import type { DeliveryReceipt } from '../receipts/receipt.service';
import type { MessageSender } from '../dispatch/message-sender';
import type { LateAcceptance } from '../carriers/carrier.types';

/** What GET /v1/carriers answers for one carrier. */
export interface CarrierHealth {
  id: string;
  channels: readonly string[];
  /** Circuit breaker state. */
  state: 'closed' | 'open' | 'half_open';
  [detail: string]: unknown;
}

/** An HTTP status callback as it reached us, for the carrier to check and read. */
export interface ReceiptCallback {
  carrier: string;
  /** The full URL as the carrier called it (the signature covers it). */
  url: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  params: Readonly<Record<string, string>>;
}

export type CallbackVerdict =
  | { ok: true; receipts: DeliveryReceipt[] }
  | { ok: false; error: 'unknown_carrier' | 'invalid_signature' };

/**
 * The carriers as the rest of the notifier sees them (implemented over the
 * carriers module: the adapters and the FailoverSender with its breakers).
 */
export abstract class CarrierGateway {
  abstract readonly sender: MessageSender;
  abstract health(): CarrierHealth[];
  /** Checks an HTTP carrier's signature and reads its receipts (none for intermediate statuses). */
  abstract readCallback(callback: ReceiptCallback): CallbackVerdict;
  /** Receipts arriving over a carrier's own connection (SMPP deliver_sm). */
  abstract onReceipt(listener: (receipt: DeliveryReceipt) => void): void;
  /**
   * Messages a carrier took after the send had given up on it and moved on (a second copy may
   * reach the customer unless it was withdrawn). Carriers without that (test stand-ins) never call it.
   */
  onLateAcceptance(_listener: (late: LateAcceptance) => void): void {}
  /**
   * B6: opens a carrier's breaker for a reason of our own (its delivery rate). True when this
   * opened it. Carriers without breakers (test stand-ins) have nothing to open.
   */
  tripBreaker(_carrierId: string, _reason: string): boolean {
    return false;
  }
  abstract start(): Promise<void>;
  abstract close(): Promise<void>;
}
