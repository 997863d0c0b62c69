import type { Logger } from '@phonegate/platform';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import {
  AllCarriersFailedError,
  type Carrier,
  CarrierError,
  type CarrierReceipt,
  CarrierStack,
  type LateAcceptance,
  MessageExpiredError,
  NoRouteError,
  type SendAttempt,
} from '../carriers';
import type { NotifierConfig } from '../config/notifier.config';
import {
  type CarrierTry,
  MessageSender,
  type OutboundMessage,
  type SendResult,
} from '../dispatch/message-sender';
import type { DeliveryReceipt } from '../receipts/receipt.service';
import {
  type CallbackVerdict,
  CarrierGateway,
  type CarrierHealth,
  type ReceiptCallback,
} from './carrier-gateway';

/** The FailoverSender behind the dispatcher's port: outcomes instead of exceptions. */
export class FailoverMessageSender extends MessageSender {
  constructor(
    private readonly stack: CarrierStack,
    private readonly shutdown: AbortSignal,
  ) {
    super();
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    try {
      const outcome = await this.stack.sender.send({
        messageId: message.messageId,
        channel: message.channel,
        to: message.to,
        body: message.text,
        ...(message.subject !== undefined ? { subject: message.subject } : {}),
        notAfter: message.notAfter,
        signal: this.shutdown,
        urgent: message.priority === 'critical',
      });
      return {
        outcome: 'sent',
        carrier: outcome.carrierId,
        providerMessageId: outcome.providerMessageId,
        tried: tries(outcome.attempts),
      };
    } catch (error) {
      if (error instanceof CarrierError && !error.retryable) {
        const code = error.providerCode ? `:${error.providerCode}` : '';
        return {
          outcome: 'rejected',
          carrier: error.carrierId,
          reason: `${error.kind}${code}`,
          tried: tries(error.attempts ?? []),
        };
      }
      if (error instanceof NoRouteError)
        return { outcome: 'rejected', reason: 'no_route', tried: [] };
      if (error instanceof MessageExpiredError)
        return { outcome: 'unavailable', reason: 'expired', tried: tries(error.attempts) };
      if (error instanceof AllCarriersFailedError) {
        const summary =
          error.attempts.map((a) => `${a.carrierId}=${a.kind ?? a.outcome}`).join(', ') ||
          'none tried';
        return {
          outcome: 'unavailable',
          reason: `all_carriers_failed: ${summary}`,
          tried: tries(error.attempts),
        };
      }
      return { outcome: 'unavailable', reason: `send_failed: ${(error as Error).name}`, tried: [] };
    }
  }
}

function tries(attempts: readonly SendAttempt[]): CarrierTry[] {
  return attempts.map((a) => ({
    carrier: a.carrierId,
    outcome:
      a.outcome === 'accepted'
        ? 'accepted'
        : a.outcome === 'recipient'
          ? 'rejected'
          : a.outcome === 'failed'
            ? 'failed'
            : 'skipped',
    ...(a.kind
      ? { reason: a.kind }
      : a.outcome !== 'accepted' && a.outcome !== 'failed'
        ? { reason: a.outcome }
        : {}),
    latencyMs: a.durationMs,
  }));
}

/** A carrier report as a receipt for the timeline: only final ones count; `sent` is intermediate. */
export function toDeliveryReceipt(r: CarrierReceipt): DeliveryReceipt | undefined {
  if (!r.final) return undefined;
  if (r.status === 'delivered')
    return { carrier: r.carrierId, providerMessageId: r.providerMessageId, status: 'delivered' };
  return {
    carrier: r.carrierId,
    providerMessageId: r.providerMessageId,
    status: 'failed',
    reason: r.errorCode && r.errorCode !== r.status ? `${r.status}:${r.errorCode}` : r.status,
  };
}

/** The carriers module (adapters, FailoverSender, breakers) as the notifier's CarrierGateway. */
export class CarrierStackGateway extends CarrierGateway {
  readonly sender: MessageSender;
  private readonly shutdown = new AbortController();

  constructor(readonly stack: CarrierStack) {
    super();
    this.sender = new FailoverMessageSender(stack, this.shutdown.signal);
  }

  health(): CarrierHealth[] {
    return this.stack.sender.snapshot().map((s) => ({ ...s }));
  }

  readCallback(callback: ReceiptCallback): CallbackVerdict {
    const check = this.stack.readCallback(callback);
    if (!check.ok) return check;
    const receipt = check.receipt ? toDeliveryReceipt(check.receipt) : undefined;
    return { ok: true, receipts: receipt ? [receipt] : [] };
  }

  override tripBreaker(carrierId: string, reason: string): boolean {
    return this.stack.sender.tripBreaker(carrierId, reason);
  }

  onReceipt(listener: (receipt: DeliveryReceipt) => void): void {
    this.stack.onReceipt((r) => {
      const receipt = toDeliveryReceipt(r);
      if (receipt) listener(receipt);
    });
  }

  override onLateAcceptance(listener: (late: LateAcceptance) => void): void {
    this.stack.onLateAcceptance(listener);
  }

  start(): Promise<void> {
    return this.stack.start();
  }

  async close(): Promise<void> {
    this.shutdown.abort();
    await this.stack.close();
  }
}

export interface CarrierGatewaySettings {
  config: NotifierConfig;
  logger: Logger;
  redis?: Redis;
  registry?: Registry;
  /** Replace the adapters (embedded mode's dev inbox). */
  carriers?: Carrier[];
}

export function createCarrierGateway(s: CarrierGatewaySettings): CarrierStackGateway {
  return new CarrierStackGateway(
    new CarrierStack({
      config: s.config.carriers,
      logger: s.logger,
      ...(s.redis ? { redis: s.redis } : {}),
      ...(s.registry ? { registry: s.registry } : {}),
      ...(s.carriers ? { carriers: s.carriers } : {}),
    }),
  );
}
