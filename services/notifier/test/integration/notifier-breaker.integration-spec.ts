import { randomUUID } from 'node:crypto';
import type { CarrierSim } from '@phonegate/carrier-sim';
import { notificationRequestedV1 } from '@phonegate/contracts';
import type { Bus } from '@phonegate/messaging';
import { eventually } from '@phonegate/platform/testing';
import { type InProcessNotifier, OPS, publish } from '../support/harness';
import { SimNotifier } from '../support/sim-notifier';

jest.setTimeout(90_000);

const BREAKER = {
  volumeThreshold: 4,
  errorThresholdPercentage: 50,
  rollingCountTimeoutMs: 10_000,
  rollingCountBuckets: 10,
  resetTimeoutMs: 3_000,
};

/**
 * B1, B3, B4, B5 through the whole service (queue → dispatcher → FailoverSender → simulator):
 * a carrier slowed to 5 s trips its breaker within the window, traffic moves to the next
 * carrier, and a half-open probe closes the breaker once the carrier has recovered.
 */
describe('notifier: a slow carrier through the whole service', () => {
  let s: SimNotifier;
  let sim: CarrierSim;
  let notifier: InProcessNotifier;
  let publisher: Bus;
  let seq = 0;

  const carriersView = async () =>
    (await notifier.app.inject({ method: 'GET', url: '/v1/carriers', headers: OPS })).json()
      .carriers as { id: string; state: string; errorRate: number }[];
  const stateOf = async (id: string) => (await carriersView()).find((c) => c.id === id)?.state;
  const sendCode = async () => {
    const n = ++seq;
    const to = `+1415555${String(1000 + n).padStart(4, '0')}`;
    await publish(publisher, notificationRequestedV1, {
      messageId: randomUUID(),
      priority: 'critical',
      channel: 'sms',
      to,
      template: 'otp.sign_in',
      locale: 'en',
      variables: { code: String(100000 + n), host: 'shop.example.com' },
      notAfter: new Date(Date.now() + 60_000).toISOString(),
      dedupeKey: `breaker:${n}`,
      origin: { service: 'otp', ref: `c${n}` },
    });
    return to;
  };
  const carrierOf = (to: string) =>
    sim.store.list({ to, channel: 'sms', limit: 10 }).map((m) => m.carrier);

  beforeAll(async () => {
    s = await SimNotifier.start({
      carriers: {
        'smpp-a': { timeoutMs: 1_000, breaker: BREAKER },
        'http-b': { timeoutMs: 3_000, breaker: BREAKER },
      },
    });
    ({ sim, notifier, publisher } = s);
    // Warm: both carriers answer.
    const first = await sendCode();
    await eventually(() => carrierOf(first).length > 0, 10_000);
  });

  afterAll(async () => {
    await s?.close();
  });

  it('opens the slow carrier’s breaker within its window, fails over, and closes it after a half-open probe', async () => {
    expect(await stateOf('smpp-a')).toBe('closed');
    sim.setBehaviour('smpp-a', { latencyMs: 5_000 });
    const slowedAt = Date.now();

    // Codes keep coming, one every 150 ms; each is tried on smpp-a (1 s deadline) then http-b.
    const during: string[] = [];
    let openedAt: number | undefined;
    while (Date.now() - slowedAt < BREAKER.rollingCountTimeoutMs && openedAt === undefined) {
      during.push(await sendCode());
      await new Promise((r) => setTimeout(r, 150));
      if ((await stateOf('smpp-a')) === 'open') openedAt = Date.now();
    }
    expect(openedAt).toBeDefined();
    expect(openedAt! - slowedAt).toBeLessThan(BREAKER.rollingCountTimeoutMs);

    // While it is open every code goes straight to http-b, without waiting on the slow one.
    const whileOpen: string[] = [];
    for (let i = 0; i < 5; i++) whileOpen.push(await sendCode());
    await eventually(
      () => [...during, ...whileOpen].every((to) => carrierOf(to).includes('http-b')),
      20_000,
    );
    for (const to of whileOpen) {
      const rec = sim.store.list({ to, limit: 1 })[0]!;
      expect(rec.carrier).toBe('http-b');
    }
    const view = await carriersView();
    expect(view.find((c) => c.id === 'smpp-a')).toMatchObject({ state: 'open' });
    expect(view.find((c) => c.id === 'http-b')).toMatchObject({ state: 'closed' });
    const metrics = (await notifier.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/carrier="smpp-a"/);

    // Recovery: after resetTimeout the breaker lets one probe through; it succeeds and closes.
    sim.setBehaviour('smpp-a', { latencyMs: 0 });
    const recovered = await eventually(
      async () => {
        const to = await sendCode();
        await eventually(() => carrierOf(to).length > 0, 10_000);
        return (await stateOf('smpp-a')) === 'closed' && carrierOf(to).includes('smpp-a')
          ? to
          : undefined;
      },
      BREAKER.resetTimeoutMs + 15_000,
      250,
    );
    expect(recovered).toBeTruthy();
    const after = await sendCode();
    await eventually(() => carrierOf(after).includes('smpp-a'), 10_000);

    const log = notifier.logs.text();
    expect(log).toContain('carrier breaker opened');
    expect(log).toContain('carrier breaker closed');
  });
});
