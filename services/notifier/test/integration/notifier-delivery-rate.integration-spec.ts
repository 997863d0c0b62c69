import { eventually } from '@phonegate/platform/testing';
import { SimNotifier } from '../support/sim-notifier';

jest.setTimeout(90_000);

/** Open long enough to see where the next codes go; only the delivery rate can open it here. */
const BREAKER = {
  volumeThreshold: 10,
  errorThresholdPercentage: 50,
  rollingCountTimeoutMs: 10_000,
  rollingCountBuckets: 10,
  resetTimeoutMs: 60_000,
};
const MIN_RECEIPTS = 6;

/**
 * B6 through the whole service: a carrier that takes every message but whose receipts come
 * back undelivered gets its breaker opened by the delivery rate (logged with the reason,
 * counted), and the next codes go to the next carrier.
 */
describe('notifier: a carrier whose messages are not delivered', () => {
  let s: SimNotifier;

  beforeAll(async () => {
    s = await SimNotifier.start({
      numbers: '+1415557',
      env: {
        NOTIFIER_RECEIPT_WINDOW: '30s',
        NOTIFIER_RECEIPT_MIN_COUNT: String(MIN_RECEIPTS),
        NOTIFIER_RECEIPT_FAILED_SHARE: '0.5',
      },
      carriers: { 'smpp-a': { breaker: BREAKER }, 'http-b': { breaker: BREAKER } },
    });
  });

  afterAll(async () => {
    await s?.close();
  });

  it('opens the breaker of a carrier whose receipts come back undelivered and fails over', async () => {
    s.sim.setBehaviour('smpp-a', { receiptStatus: 'undelivered', receiptDelayMs: 20 });

    // smpp-a takes every one of them (the submissions succeed); their receipts say undelivered.
    for (let i = 0; i < MIN_RECEIPTS; i++) {
      const { messageId, to } = await s.publish(s.code());
      await eventually(async () => (await s.statusOf(messageId)) === 'failed');
      expect(s.carriersOf(to)).toEqual(['smpp-a']);
    }
    await eventually(async () => (await s.breakerOf('smpp-a')) === 'open', 5_000);
    expect(await s.breakerOf('http-b')).toBe('closed');

    // New codes go to the next carrier without trying smpp-a.
    for (let i = 0; i < 3; i++) {
      const { to } = await s.publish(s.code());
      await eventually(() => s.carriersOf(to).length > 0, 10_000);
      expect(s.carriersOf(to)).toEqual(['http-b']);
    }

    const opened = s.logLines('carrier breaker opened');
    expect(opened).toHaveLength(1);
    expect(opened[0]).toContain('"carrier":"smpp-a"');
    expect(opened[0]).toContain(
      `delivery_rate: ${MIN_RECEIPTS} of ${MIN_RECEIPTS} receipts failed`,
    );
    const metrics = (await s.notifier.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(
      /notifier_carrier_breaker_trips_total\{[^}]*carrier="smpp-a"[^}]*signal="delivery_rate"[^}]*\} 1/,
    );
  });
});
