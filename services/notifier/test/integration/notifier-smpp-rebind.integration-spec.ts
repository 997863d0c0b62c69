import { randomUUID } from 'node:crypto';
import type { CarrierSim, SimMessage } from '@phonegate/carrier-sim';
import { notificationRequestedV1 } from '@phonegate/contracts';
import type { Bus } from '@phonegate/messaging';
import { eventually } from '@phonegate/platform/testing';
import { type MessageJson, type InProcessNotifier, OPS, publish } from '../support/harness';
import { SimNotifier } from '../support/sim-notifier';

jest.setTimeout(90_000);

const N = 20;

/**
 * The simulator drops the SMPP session while submits are on the wire (unacknowledged, so the
 * simulated centre did not keep them): the carrier rebinds and resends them, and every message
 * goes out once, through the whole service, on the same carrier, without a second attempt.
 */
describe('notifier: SMPP session dropped mid-send', () => {
  let s: SimNotifier;
  let sim: CarrierSim;
  let notifier: InProcessNotifier;
  let publisher: Bus;
  const received: SimMessage[] = [];

  beforeAll(async () => {
    s = await SimNotifier.start({
      carriers: { 'smpp-a': { timeoutMs: 8_000, reconnectMinMs: 100, reconnectMaxMs: 500 } },
      // Only the SMPP carrier: no failover may hide a lost message.
      smsOrder: 'smpp-a',
    });
    ({ sim, notifier, publisher } = s);
    sim.store.on('message', (m: SimMessage) => received.push(m)); // nothing is sent before this
    await eventually(() => sim.smppSessions('smpp-a') === 1, 10_000);
  });

  afterAll(async () => {
    await s?.close();
  });

  it('rebinds and resends what was unacknowledged', async () => {
    sim.setBehaviour('smpp-a', { latencyMs: 700 });
    const codes = Array.from({ length: N }, (_, i) => ({
      messageId: randomUUID(),
      priority: 'critical' as const,
      channel: 'sms' as const,
      to: `+1312${String(5_550_000 + i)}`,
      template: 'otp.sign_in',
      locale: 'en',
      variables: { code: String(730_000 + i), host: 'shop.example.com' },
      notAfter: new Date(Date.now() + 60_000).toISOString(),
      dedupeKey: `rebind:${i}:${randomUUID()}`,
      origin: { service: 'otp', ref: `c${i}` },
    }));
    for (const c of codes) await publish(publisher, notificationRequestedV1, c);

    // Submits are on the wire (the centre answers after 700 ms): drop the session under them.
    const onWire = async () => {
      const res = await notifier.app.inject({ method: 'GET', url: '/v1/carriers', headers: OPS });
      const smpp = (
        res.json().carriers as { id: string; connection?: { inFlight?: number } }[]
      ).find((c) => c.id === 'smpp-a');
      return (smpp?.connection?.inFlight ?? 0) > 0;
    };
    await eventually(onWire, 10_000, 10);
    const acknowledgedBefore = received.length;
    expect(sim.dropSessions('smpp-a')).toBe(1);
    sim.setBehaviour('smpp-a', { latencyMs: 0 });
    expect(acknowledgedBefore).toBeLessThan(N);

    await eventually(() => codes.every((c) => received.some((m) => m.to === c.to)), 30_000);
    await new Promise((r) => setTimeout(r, 500));
    for (const c of codes) expect(received.filter((m) => m.to === c.to)).toHaveLength(1);
    expect(received.every((m) => m.carrier === 'smpp-a')).toBe(true);
    await eventually(() => sim.smppSessions('smpp-a') === 1, 10_000);

    for (const c of codes) {
      const view = await eventually(async () => {
        const body = (
          await notifier.app.inject({
            method: 'GET',
            url: `/v1/messages/${c.messageId}`,
            headers: OPS,
          })
        ).json<MessageJson>();
        return ['sent', 'delivered'].includes(body.status) ? body : undefined;
      }, 10_000);
      expect(view).toMatchObject({ carrier: 'smpp-a', attempts: 1 });
    }
    const log = notifier.logs.text();
    expect(log).toContain('smpp session lost, rebinding');
    expect(log).toMatch(/"unacknowledged":[1-9]/);
  });
});
