import { createLogger, ManualClock, MetricsService } from '@phonegate/platform';
import { LogCapture } from '@phonegate/platform/testing';
import { toDeliveryReceipt } from '../carrier-health/carrier-gateway.factory';
import { parseDeliveryReceipt, parseStatusCallback } from '../carriers';
import { NotifierMetrics } from '../metrics/notifier.metrics';
import type { DeliveryReceipt } from '../receipts/receipt.service';
import { DeliveryRateSignal, receiptVerdict } from './delivery-rate.signal';

/** A receipt as the HTTP carrier's status callback gives it. */
const http = (status: string, errorCode?: string): DeliveryReceipt =>
  toDeliveryReceipt(
    parseStatusCallback('http-b', {
      MessageSid: 'SM1',
      MessageStatus: status,
      ...(errorCode ? { ErrorCode: errorCode } : {}),
    })!,
  )!;

/** A receipt as the SMPP carrier's deliver_sm gives it. */
const smpp = (stat: string, err = '000'): DeliveryReceipt => {
  const parsed = parseDeliveryReceipt({
    esmClass: 0x04,
    shortMessage: `id:a1 sub:001 dlvrd:001 submit date:2401010000 done date:2401010000 stat:${stat} err:${err} text:x`,
  })!;
  return toDeliveryReceipt({
    carrierId: 'smpp-a',
    providerMessageId: parsed.id,
    status: parsed.status,
    final: parsed.final,
    ...(parsed.errorCode ? { errorCode: parsed.errorCode } : {}),
    at: new Date(),
  })!;
};

describe('receiptVerdict', () => {
  it('counts delivered and carrier-side failures, and leaves the recipient’s fault out (B2)', () => {
    expect(receiptVerdict(smpp('DELIVRD'))).toBe('delivered');
    expect(receiptVerdict(http('delivered'))).toBe('delivered');
    expect(receiptVerdict(smpp('UNDELIV', '001'))).toBe('failed');
    expect(receiptVerdict(smpp('EXPIRED'))).toBe('failed');
    expect(receiptVerdict(http('undelivered', '30003'))).toBe('failed');
    expect(receiptVerdict(http('failed', '30008'))).toBe('failed');
    expect(receiptVerdict(http('undelivered'))).toBe('failed');
    // Invalid number, unknown handset, blocked, landline, opted out; a callee who did not answer.
    for (const code of ['21211', '30005', '30004', '30006', '21610'])
      expect(receiptVerdict(http('undelivered', code))).toBe('recipient');
    const call = toDeliveryReceipt(
      parseStatusCallback('http-b', { CallSid: 'CA1', CallStatus: 'no-answer' })!,
    )!;
    expect(receiptVerdict(call)).toBe('recipient');
  });
});

describe('DeliveryRateSignal', () => {
  const options = { windowMs: 60_000, minReceipts: 4, maxFailedShare: 0.5 };
  let clock: ManualClock;
  let metrics: NotifierMetrics;
  let trips: { carrier: string; reason: string }[];
  let open: boolean;
  let signal: DeliveryRateSignal;

  const tripCount = async (carrier: string) =>
    (await metrics.breakerTrips.get()).values.find(
      (v) => v.labels.carrier === carrier && v.labels.signal === 'delivery_rate',
    )?.value ?? 0;
  const feed = (receipts: DeliveryReceipt[]) => receipts.forEach((r) => signal.observe(r));
  const times = (n: number, r: DeliveryReceipt) => Array.from({ length: n }, () => r);

  beforeEach(() => {
    clock = new ManualClock(1_700_000_000_000);
    metrics = new NotifierMetrics(new MetricsService('test', false));
    trips = [];
    open = false;
    const trip = (carrier: string, reason: string) => {
      if (open) return false;
      trips.push({ carrier, reason });
      open = true;
      return true;
    };
    const logger = createLogger({
      service: 'test',
      level: 'silent',
      destination: new LogCapture(),
    });
    signal = new DeliveryRateSignal(trip, metrics, clock, logger, options);
  });

  it('opens the breaker once enough receipts came back and more than the share failed', async () => {
    feed(times(3, smpp('UNDELIV', '001')));
    expect(trips).toEqual([]); // below minReceipts
    feed([smpp('UNDELIV', '001')]);
    expect(trips).toEqual([
      { carrier: 'smpp-a', reason: 'delivery_rate: 4 of 4 receipts failed within 60000 ms' },
    ]);
    expect(await tripCount('smpp-a')).toBe(1);
  });

  it('does not open it at the share exactly, nor for delivered ones', async () => {
    feed([...times(2, smpp('DELIVRD')), ...times(2, smpp('UNDELIV'))]);
    feed(times(10, smpp('DELIVRD')));
    expect(trips).toEqual([]);
    expect(await tripCount('smpp-a')).toBe(0);
  });

  it('counts neither way the receipts that are the recipient’s fault', () => {
    feed(times(10, http('undelivered', '30005')));
    feed(times(3, http('undelivered', '30003')));
    expect(trips).toEqual([]);
    feed([http('failed', '30008')]);
    expect(trips.map((t) => t.carrier)).toEqual(['http-b']);
  });

  it('forgets receipts older than the window', () => {
    feed(times(3, smpp('UNDELIV')));
    clock.advance(options.windowMs + 1);
    feed([smpp('UNDELIV')]);
    expect(trips).toEqual([]);
    feed(times(3, smpp('UNDELIV')));
    expect(trips).toHaveLength(1);
  });

  it('judges each carrier by its own receipts', () => {
    feed([...times(2, smpp('UNDELIV')), ...times(4, http('delivered'))]);
    feed(times(2, smpp('UNDELIV')));
    expect(trips.map((t) => t.carrier)).toEqual(['smpp-a']);
  });

  it('starts afresh after a crossing, and counts only the trips that opened the breaker', async () => {
    feed(times(4, smpp('UNDELIV')));
    expect(trips).toHaveLength(1);
    // Still open: the next crossing needs 4 new receipts, and opens nothing.
    feed(times(3, smpp('UNDELIV')));
    feed([smpp('UNDELIV')]);
    expect(trips).toHaveLength(1);
    expect(await tripCount('smpp-a')).toBe(1);
    open = false; // half-open, then closed by a probe
    feed(times(4, smpp('UNDELIV')));
    expect(trips).toHaveLength(2);
    expect(await tripCount('smpp-a')).toBe(2);
  });
});
