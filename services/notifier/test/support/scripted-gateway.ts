import { randomUUID } from 'node:crypto';
import {
  CarrierGateway,
  type CallbackVerdict,
  type CarrierHealth,
} from '../../src/carrier-health/carrier-gateway';
import {
  MessageSender,
  type OutboundMessage,
  type SendResult,
} from '../../src/dispatch/message-sender';
import type { DeliveryReceipt } from '../../src/receipts/receipt.service';

/**
 * A stand-in for the carriers (our own port, not infrastructure) for specs
 * about the message log, the API and the bus handling: it records what it is
 * asked to send and answers as scripted. The carrier specs use the simulator.
 */
export class ScriptedGateway extends CarrierGateway {
  readonly sent: (OutboundMessage & { at: number; providerMessageId: string })[] = [];
  next: (m: OutboundMessage) => SendResult | undefined = () => undefined;
  private listener: ((r: DeliveryReceipt) => void) | undefined;

  readonly sender: MessageSender = new (class extends MessageSender {
    constructor(private readonly outer: ScriptedGateway) {
      super();
    }
    async send(message: OutboundMessage): Promise<SendResult> {
      const scripted = this.outer.next(message);
      if (scripted) return scripted;
      const providerMessageId = `sim-${randomUUID()}`;
      this.outer.sent.push({ ...message, at: Date.now(), providerMessageId });
      return {
        outcome: 'sent',
        carrier: 'scripted',
        providerMessageId,
        tried: [{ carrier: 'scripted', outcome: 'accepted' }],
      };
    }
  })(this);

  health(): CarrierHealth[] {
    return [{ id: 'scripted', channels: ['sms', 'voice', 'email'], state: 'closed' }];
  }

  readCallback(): CallbackVerdict {
    return { ok: false, error: 'unknown_carrier' };
  }

  onReceipt(listener: (r: DeliveryReceipt) => void): void {
    this.listener = listener;
  }

  /** As if the carrier reported on a message over its own connection. */
  receipt(receipt: DeliveryReceipt): void {
    this.listener?.(receipt);
  }

  async start(): Promise<void> {}
  async close(): Promise<void> {}
}
