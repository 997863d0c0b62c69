import type { Clock, Logger } from '@phonegate/platform';
import { RECIPIENT_ERROR_CODES } from '../carriers';
import type { NotifierMetrics } from '../metrics/notifier.metrics';
import type { DeliveryReceipt } from '../receipts/receipt.service';

export interface DeliveryRateOptions {
  /** The sliding window receipts are counted over. */
  windowMs: number;
  /** Receipts (of the carrier's fault or delivered) in the window before the share means anything. */
  minReceipts: number;
  /** Share of failed receipts (0..1) above which the breaker opens. */
  maxFailedShare: number;
}

/** Opens a carrier's breaker (the carrier gateway's `tripBreaker`): true when it opened it now. */
export type TripBreaker = (carrierId: string, reason: string) => boolean;

/**
 * Vendor codes in failed receipts that are the recipient's fault (B2: invalid number, opted out,
 * blocked destination, not a mobile): the submission codes, plus 30004 message blocked, 30005
 * unknown destination handset, 30006 landline or unreachable carrier. WIRE VALUES.
 */
const RECIPIENT_RECEIPT_CODES: ReadonlySet<string> = new Set(
  [...RECIPIENT_ERROR_CODES, 30004, 30005, 30006].map(String),
);
/** Call outcomes the callee chose (voice receipts). WIRE VALUES. */
const RECIPIENT_CALL_OUTCOMES: ReadonlySet<string> = new Set(['busy', 'no-answer']);

/**
 * What a receipt says about its carrier: it delivered, it failed, or nothing (the recipient's
 * fault, B2). Reads the reason as the carrier gateway writes it: `<status>` or
 * `<status>:<code>` (`undelivered:30003`, `undelivered:UNDELIV/001`, `undelivered:busy`).
 */
export function receiptVerdict(receipt: DeliveryReceipt): 'delivered' | 'failed' | 'recipient' {
  if (receipt.status === 'delivered') return 'delivered';
  const code = receipt.reason?.split(':')[1]?.trim().toLowerCase();
  if (code && (RECIPIENT_RECEIPT_CODES.has(code) || RECIPIENT_CALL_OUTCOMES.has(code)))
    return 'recipient';
  return 'failed';
}

const BUCKETS = 12;

/** Receipt counts of one carrier in BUCKETS time slices of windowMs / BUCKETS each. */
class ReceiptWindow {
  private readonly slice = new Array<number>(BUCKETS).fill(-1);
  private readonly total = new Array<number>(BUCKETS).fill(0);
  private readonly failed = new Array<number>(BUCKETS).fill(0);

  constructor(private readonly sliceMs: number) {}

  add(nowMs: number, failed: boolean): void {
    const current = Math.floor(nowMs / this.sliceMs);
    const i = current % BUCKETS;
    if (this.slice[i] !== current) {
      this.slice[i] = current;
      this.total[i] = 0;
      this.failed[i] = 0;
    }
    this.total[i]! += 1;
    if (failed) this.failed[i]! += 1;
  }

  /** Counts over the slices still inside the window. */
  counts(nowMs: number): { total: number; failed: number } {
    const current = Math.floor(nowMs / this.sliceMs);
    let total = 0;
    let failed = 0;
    for (let i = 0; i < BUCKETS; i++) {
      if (current - this.slice[i]! >= BUCKETS) continue;
      total += this.total[i]!;
      failed += this.failed[i]!;
    }
    return { total, failed };
  }

  clear(): void {
    this.slice.fill(-1);
  }
}

/**
 * B6, the delivery-rate signal: per carrier, the receipts that came back over a sliding window;
 * when there are at least `minReceipts` of them and more than `maxFailedShare` say the message
 * was not delivered (the recipient's fault does not count either way), that carrier's breaker is
 * opened, so new messages fail over to the next carrier; it half-opens after its reset time as
 * usual. The window starts afresh after each crossing, so the next trip needs new evidence.
 * Per process, like the breakers themselves: each replica judges the receipts it is given.
 */
export class DeliveryRateSignal {
  private readonly windows = new Map<string, ReceiptWindow>();

  constructor(
    private readonly trip: TripBreaker,
    private readonly metrics: NotifierMetrics,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: DeliveryRateOptions,
  ) {}

  /** A receipt that changed its message's status. */
  observe(receipt: DeliveryReceipt): void {
    const verdict = receiptVerdict(receipt);
    if (verdict === 'recipient') return;
    const carrier = receipt.carrier;
    let window = this.windows.get(carrier);
    if (!window) {
      window = new ReceiptWindow(Math.max(1, Math.ceil(this.options.windowMs / BUCKETS)));
      this.windows.set(carrier, window);
    }
    const now = this.clock.nowMs();
    window.add(now, verdict === 'failed');
    const { total, failed } = window.counts(now);
    if (total < this.options.minReceipts || failed / total <= this.options.maxFailedShare) return;
    window.clear();
    const reason = `delivery_rate: ${failed} of ${total} receipts failed within ${this.options.windowMs} ms`;
    try {
      if (this.trip(carrier, reason))
        this.metrics.breakerTrips.inc({ carrier, signal: 'delivery_rate' });
    } catch (error) {
      this.logger.error({ carrier, err: (error as Error).message }, 'breaker not opened');
    }
  }
}
