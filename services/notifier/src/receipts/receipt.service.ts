import type { Clock, Logger } from '@phonegate/platform';
import type { LateAcceptance } from '../carriers';
import type { MessageLog } from '../messages/message-log';
import { countMessage, type NotifierMetrics } from '../metrics/notifier.metrics';
import { Semaphore } from '../dispatch/semaphore';

/** A carrier's final word on a message, from an SMPP deliver_sm or an HTTP status callback. */
export interface DeliveryReceipt {
  carrier: string;
  /** The id the carrier answered the submission with. */
  providerMessageId: string;
  status: 'delivered' | 'failed';
  /** Carrier status or error code (e.g. `UNDELIV`, `30003`): never message text. */
  reason?: string;
}

export type ReceiptOutcome = 'applied' | 'unknown' | 'duplicate';

/**
 * Puts receipts on the timeline (`delivered` / `failed`, with the outcome
 * event). A receipt can overtake the `sent` record of its own message (the
 * carrier answers before our write commits), so an unmatched one is retried
 * for a few seconds before it is given up.
 */
export class ReceiptService {
  /**
   * Receipts come as fast as sends. The log batches them (one statement for many, at most two
   * such statements at once), so this only bounds how many are held in memory at a time.
   */
  private readonly slots: Semaphore;
  private readonly appliedListeners: ((receipt: DeliveryReceipt) => void)[] = [];

  constructor(
    private readonly log: MessageLog,
    private readonly metrics: NotifierMetrics,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly matchWaitMs: number,
    concurrency = 64,
  ) {
    this.slots = new Semaphore(concurrency);
  }

  /** Hears every receipt that changed its message (the breakers' delivery-rate signal, B6). */
  onApplied(listener: (receipt: DeliveryReceipt) => void): void {
    this.appliedListeners.push(listener);
  }

  async apply(receipt: DeliveryReceipt): Promise<ReceiptOutcome> {
    const started = Date.now();
    for (let delay = 25; ; delay = Math.min(delay * 2, 1_000)) {
      const result = await this.slots.run(() => this.tryOnce(receipt));
      if (result !== 'unknown') return result;
      if (Date.now() - started + delay > this.matchWaitMs) break;
      await new Promise((r) => setTimeout(r, delay));
    }
    this.metrics.receipts.inc({ carrier: receipt.carrier, status: 'unmatched' });
    this.logger.warn(
      { carrier: receipt.carrier, status: receipt.status },
      'delivery receipt for an unknown message',
    );
    return 'unknown';
  }

  /**
   * A carrier took a message after the send gave up on it and moved on: a `sent` step on the
   * timeline naming that carrier and its message id, counted as an attempt, saying whether the
   * copy was withdrawn or a second one may reach the customer.
   */
  async applyLateAcceptance(late: LateAcceptance): Promise<boolean> {
    const reason = lateAcceptanceReason(late);
    const recorded = await this.log.recordLateAcceptance(
      late.messageId,
      late.at,
      late.carrierId,
      reason,
      late.providerMessageId,
    );
    if (!recorded)
      this.logger.warn(
        { messageId: late.messageId, carrier: late.carrierId },
        'late acceptance for an unknown message',
      );
    return recorded;
  }

  private async tryOnce(receipt: DeliveryReceipt): Promise<ReceiptOutcome> {
    const args = [
      receipt.carrier,
      receipt.providerMessageId,
      receipt.status,
      this.clock.now(),
      receipt.reason,
    ] as const;
    let result = await this.log.applyReceipt(...args);
    // Not the copy a message's send recorded: perhaps one a carrier took after its call was
    // given up (a late acceptance), whose receipt says whether a second copy reached the customer.
    if (!result.applied && result.why === 'unknown')
      result = await this.log.applyLateCopyReceipt(...args);
    if (result.applied) {
      this.metrics.receipts.inc({ carrier: receipt.carrier, status: receipt.status });
      // The message's own status changed (not a late copy's step): once per message.
      if (result.message) countMessage(this.metrics, result.message, receipt.status);
      // A delivery is the expected end (metrics count it); a failed one is worth a line at info.
      this.logger[receipt.status === 'delivered' ? 'debug' : 'info'](
        { messageId: result.messageId, carrier: receipt.carrier, status: receipt.status },
        'delivery receipt',
      );
      for (const listener of this.appliedListeners) listener(receipt);
      return 'applied';
    }
    return result.why === 'already_final' ? 'duplicate' : 'unknown';
  }
}

/** The timeline's reason for a late acceptance (carrier message ids are not personal data). */
export function lateAcceptanceReason(late: LateAcceptance): string {
  const what = `accepted after its deadline (carrier message id ${late.providerMessageId})`;
  return late.cancelled
    ? `${what}, then withdrawn (cancelled): no second copy`
    : `${what}: a second copy may reach the customer`;
}
