import { eventually } from '@phonegate/platform/testing';
import type { MessageJson } from '../support/harness';
import { SimNotifier } from '../support/sim-notifier';

jest.setTimeout(90_000);

/**
 * The support timeline while every carrier is down: an attempt no carrier took is retried, so
 * it must not read as final. `failed` is only ever the message's outcome; each retried attempt
 * is a `sending` step naming the carrier that failed (or was passed over) and why.
 */
describe('notifier: attempts retried while every carrier is down', () => {
  let s: SimNotifier;

  beforeAll(async () => {
    s = await SimNotifier.start({ env: { NOTIFIER_RETRY_DELAYS: '200ms' } });
  });

  afterAll(async () => {
    await s?.close();
  });

  it('lists each failed attempt as sending, with its carrier and reason, and failed never before the outcome', async () => {
    s.sim.setBehaviour('smpp-a', { down: true });
    s.sim.setBehaviour('http-b', { down: true });
    const code = await s.publish(s.code());
    const url = `/v1/messages/${code.messageId}`;

    // Several attempts while both are down; the message is still being sent.
    const during = await eventually(async () => {
      const v = await s.get<MessageJson>(url);
      return (v.attempts ?? 0) >= 3 ? v : undefined;
    }, 20_000);
    expect(during.status).toBe('sending');
    expect(during.timeline.some((t) => t.status === 'failed')).toBe(false);

    s.sim.setBehaviour('smpp-a', { down: false });
    s.sim.setBehaviour('http-b', { down: false });
    const view = await eventually(async () => {
      const v = await s.get<MessageJson>(url);
      return ['sent', 'delivered'].includes(v.status) ? v : undefined;
    }, 30_000);

    expect(view.timeline.some((t) => t.status === 'failed')).toBe(false);
    const retried = view.timeline.filter((t) => t.reason?.startsWith('attempt_'));
    expect(retried.length).toBeGreaterThanOrEqual(2);
    for (const step of retried) {
      expect(step.status).toBe('sending');
      // Each names the carrier it is about, and why it did not take the message.
      expect(['smpp-a', 'http-b']).toContain(step.carrier);
      expect(step.reason).toMatch(/^attempt_(failed|skipped): [a-z_]+/);
    }
    const carriersNamed = new Set(retried.map((t) => t.carrier));
    expect(carriersNamed).toEqual(new Set(['smpp-a', 'http-b']));
    expect(
      retried.some((t) => t.carrier === 'http-b' && t.reason === 'attempt_failed: unavailable'),
    ).toBe(true);
    // The steps go in order: queued, then sending…, then the outcome.
    expect(view.timeline[0]!.status).toBe('queued');
    expect(view.timeline.findIndex((t) => t.status === 'sent')).toBeGreaterThan(
      view.timeline.lastIndexOf(retried.at(-1)!),
    );
  });
});
