import { randomUUID } from 'node:crypto';
import type { CarrierSim } from '@phonegate/carrier-sim';
import { notificationRequestedV1 } from '@phonegate/contracts';
import type { Bus } from '@phonegate/messaging';
import { eventually } from '@phonegate/platform/testing';
import { type InProcessNotifier, OPS, publish } from '../support/harness';
import type { OutcomeListener } from '../support/outcome-listener';
import { SimNotifier } from '../support/sim-notifier';

jest.setTimeout(90_000);

const BREAKER = {
  volumeThreshold: 3,
  errorThresholdPercentage: 50,
  rollingCountTimeoutMs: 10_000,
  rollingCountBuckets: 10,
  resetTimeoutMs: 1_000,
};

/**
 * Both SMS carriers down: code messages are retried until their notAfter, then dropped with
 * the reason; nothing reaches a carrier after notAfter; the otp service hears about it
 * (notification.dropped.v1 with its origin).
 */
describe('notifier: every SMS carrier down', () => {
  let s: SimNotifier;
  let sim: CarrierSim;
  let notifier: InProcessNotifier;
  let publisher: Bus;
  let outcomes: OutcomeListener;

  beforeAll(async () => {
    s = await SimNotifier.start({
      env: { NOTIFIER_RETRY_DELAYS: '200ms,400ms,800ms' },
      carriers: {
        'smpp-a': { timeoutMs: 500, bindTimeoutMs: 300, reconnectMaxMs: 500, breaker: BREAKER },
        'http-b': { timeoutMs: 500, breaker: BREAKER },
      },
      outcomes: true,
    });
    ({ sim, notifier, publisher, outcomes } = s);
  });

  afterAll(async () => {
    await s?.close();
  });

  it('retries codes until notAfter, drops them with the reason, and never sends one late', async () => {
    sim.setBehaviour('smpp-a', { down: true });
    sim.setBehaviour('http-b', { down: true });
    const notAfter = new Date(Date.now() + 4_000);
    const codes = Array.from({ length: 6 }, (_, i) => ({
      messageId: randomUUID(),
      priority: 'critical' as const,
      channel: 'sms' as const,
      to: `+1415555${String(2000 + i)}`,
      template: 'otp.sign_in',
      locale: 'en',
      variables: { code: String(400000 + i), host: 'shop.example.com' },
      notAfter: notAfter.toISOString(),
      dedupeKey: `expiry:${i}:${randomUUID()}`,
      origin: { service: 'otp', ref: `challenge-${i}` },
    }));
    for (const c of codes) await publish(publisher, notificationRequestedV1, c);

    const dropped = await eventually(
      () =>
        codes.every((c) => outcomes.of('notification.dropped.v1', c.messageId).length === 1)
          ? codes.map((c) => outcomes.of('notification.dropped.v1', c.messageId)[0]!)
          : undefined,
      15_000,
    );
    for (const [i, event] of dropped.entries()) {
      expect(event.data).toMatchObject({
        messageId: codes[i]!.messageId,
        reason: 'expired',
        origin: codes[i]!.origin,
        carrier: null,
      });
      expect(Date.parse(event.time)).toBeGreaterThanOrEqual(notAfter.getTime() - 100);
    }

    // Retried while it could still arrive: several attempts, each a `sending` step naming the
    // carriers that failed (never `failed`, which reads as final), then dropped.
    const view = (
      await notifier.app.inject({
        method: 'GET',
        url: `/v1/messages/${codes[0]!.messageId}`,
        headers: OPS,
      })
    ).json();
    expect(view.status).toBe('dropped');
    expect(view.attempts).toBeGreaterThanOrEqual(3);
    expect(view.timeline.some((t: { status: string }) => t.status === 'failed')).toBe(false);
    const retried = view.timeline.filter(
      (t: { status: string; reason?: string }) =>
        t.status === 'sending' && t.reason?.startsWith('attempt_'),
    );
    const named = retried.filter((t: { carrier?: string }) => t.carrier !== undefined);
    expect(named.length).toBeGreaterThanOrEqual(3);
    // A step names no carrier only when no carrier was tried: the attempt notAfter cut short.
    for (const t of retried.filter((t: { carrier?: string }) => t.carrier === undefined))
      expect(t.reason).toBe('attempt_failed: expired');
    expect(view.timeline.at(-1)).toMatchObject({ status: 'dropped', reason: 'expired' });

    // The carriers come back: still nothing of these codes reaches them, then or later.
    sim.setBehaviour('smpp-a', { down: false });
    sim.setBehaviour('http-b', { down: false });
    await new Promise((r) => setTimeout(r, 2_500));
    const received = sim.store.list({ channel: 'sms', limit: 10_000 });
    const late = received.filter((m) => codes.some((c) => c.to === m.to));
    expect(late).toEqual([]);
    expect(received.every((m) => m.receivedAt < notAfter.getTime())).toBe(true);

    // And a new code goes out normally once they are back.
    const fresh = {
      ...codes[0]!,
      messageId: randomUUID(),
      to: '+14155552999',
      dedupeKey: `expiry:fresh:${randomUUID()}`,
      notAfter: new Date(Date.now() + 30_000).toISOString(),
    };
    await publish(publisher, notificationRequestedV1, fresh);
    await eventually(() => sim.store.list({ to: fresh.to }).length === 1, 15_000);
    const metrics = (await notifier.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/notifier_dropped_total\{[^}]*reason="expired"[^}]*\} 6/);
  });
});
