import type { CarrierSim } from '@phonegate/carrier-sim';
import { eventually } from '@phonegate/platform/testing';
import type { MessageJson } from '../support/harness';
import { SimNotifier } from '../support/sim-notifier';

jest.setTimeout(90_000);

const LATE = 'accepted after its deadline';

/**
 * SECURITY B3 and M4 with a merely slow SMPP carrier: smpp-a answers its submit_sm after 8 s,
 * past its 3 s deadline, so the code fails over to http-b. The submit was on the wire: the
 * centre takes it late. The carrier withdraws that copy (cancel_sm) while it still can, and
 * whatever got through late is on the timeline (carrier, its message id, an attempt) and
 * counted, so support can tell whether one copy or two reached the customer.
 */
describe('notifier: a carrier that accepts a code after its deadline', () => {
  let s: SimNotifier;
  let sim: CarrierSim;

  beforeAll(async () => {
    s = await SimNotifier.start();
    sim = s.sim;
    await eventually(() => sim.smppSessions('smpp-a') === 1, 10_000);
  });

  afterAll(async () => {
    await s?.close();
  });

  /** One code with smpp-a 8 s slow: its view once smpp-a's late answer is in, and what the customer got. */
  async function slowCode(cancellable: boolean) {
    sim.setBehaviour('smpp-a', { latencyMs: 8_000, receiptDelayMs: 2_000, cancellable });
    const code = await s.publish(s.code());
    // Failover: http-b after smpp-a's 3 s deadline; smpp-a's answer comes at 8 s.
    const view = await eventually(async () => {
      const v = await s.get<MessageJson>(`/v1/messages/${code.messageId}`);
      return v.timeline?.some((t) => t.carrier === 'smpp-a' && t.reason?.includes(LATE))
        ? v
        : undefined;
    }, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    const copies = sim.store.list({ to: code.to });
    return { code, view, copies };
  }

  async function lateMetric(outcome: string): Promise<number> {
    const text = (await s.notifier.app.inject({ method: 'GET', url: '/metrics' })).body;
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('notifier_carrier_late_acceptances_total{') &&
          l.includes('carrier="smpp-a"') &&
          l.includes(`outcome="${outcome}"`),
      );
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  // First: after the slow tests below, smpp-a is too slow to be tried first with a code.

  /**
   * A 3-segment code (Japanese, a long host) whose second segment smpp-a refuses on time: the
   * first (taken before) and the third (taken after) are withdrawn, but nothing was accepted
   * after a deadline.
   */
  async function segmentRefused(status: 'invalid' | 'throttled') {
    sim.setBehaviour('smpp-a', {
      latencyMs: 0,
      receiptDelayMs: 2_000,
      cancellable: true,
      refuseSegment: { segment: 2, status },
    });
    const cancelledBefore = sim.registry.get('smpp-a')!.stats.cancelled;
    const request = s.code();
    const code = await s.publish({
      ...request,
      locale: 'ja',
      variables: { ...request.variables, host: 'sign-in.checkout.storefront.shop.example.com' },
    });
    await eventually(async () => {
      const v = await s.get<MessageJson>(`/v1/messages/${code.messageId}`);
      return v.status === 'failed' || v.status === 'delivered';
    }, 20_000);
    await eventually(() => sim.registry.get('smpp-a')!.stats.cancelled === cancelledBefore + 2);
    await new Promise((r) => setTimeout(r, 300));
    sim.setBehaviour('smpp-a', { refuseSegment: false });
    return { code, view: await s.get<MessageJson>(`/v1/messages/${code.messageId}`) };
  }

  it.each([
    ['invalid' as const, 'failed'],
    ['throttled' as const, 'delivered'],
  ])(
    'a segment refused on time (%s): the segment taken is withdrawn, no late acceptance is reported',
    async (refusal, status) => {
      const before = {
        cancelled: await lateMetric('cancelled'),
        not: await lateMetric('not_cancelled'),
      };
      const { code, view } = await segmentRefused(refusal);

      expect(view).toMatchObject({ status, attempts: 1, segments: 3 });
      expect(view.timeline.some((t) => t.reason?.includes(LATE))).toBe(false);
      expect(view.timeline.some((t) => t.reason?.includes('withdrawn'))).toBe(false);
      expect(await lateMetric('cancelled')).toBe(before.cancelled);
      expect(await lateMetric('not_cancelled')).toBe(before.not);
      // Nothing of it reached smpp-a's handsets.
      expect(sim.store.list({ to: code.to }).filter((c) => c.carrier === 'smpp-a')).toEqual([]);
      const lines = s.logLines(code.messageId).join('\n');
      expect(lines).toContain('withdrawn with cancel_sm');
      expect(lines).not.toContain(LATE);
    },
  );

  it('withdraws the late copy with cancel_sm: the customer gets one, the timeline names both carriers', async () => {
    const { view, copies } = await slowCode(true);

    // The simulator took smpp-a's copy late and it was withdrawn before reaching the handset.
    expect(copies.map((c) => c.carrier).sort()).toEqual(['http-b', 'smpp-a']);
    expect(copies.find((c) => c.carrier === 'smpp-a')?.status).toBe('cancelled');
    const reached = copies.filter((c) => c.status !== 'cancelled');
    expect(reached.map((c) => c.carrier)).toEqual(['http-b']);

    const late = copies.find((c) => c.carrier === 'smpp-a')!;
    expect(view).toMatchObject({ carrier: 'http-b', attempts: 2 });
    const entry = view.timeline.find((t) => t.carrier === 'smpp-a' && t.reason?.includes(LATE))!;
    expect(entry.status).toBe('sent');
    expect(entry.reason).toContain(late.id);
    expect(entry.reason).toContain('withdrawn');
    expect(view.timeline.some((t) => t.carrier === 'http-b' && t.status === 'sent')).toBe(true);
    expect(await lateMetric('cancelled')).toBe(1);
  });

  it('when the late copy cannot be withdrawn any more, the timeline says a second copy may reach the customer', async () => {
    // smpp-a refuses cancel_sm (as centres without it do): its copy reaches the handset.
    const { view, copies } = await slowCode(false);

    expect(copies.map((c) => c.carrier).sort()).toEqual(['http-b', 'smpp-a']);
    const late = copies.find((c) => c.carrier === 'smpp-a')!;
    await eventually(() => sim.store.get(late.id)?.status === 'delivered', 10_000);

    expect(view).toMatchObject({ carrier: 'http-b', attempts: 2 });
    const entry = view.timeline.find((t) => t.carrier === 'smpp-a' && t.reason?.includes(LATE))!;
    expect(entry.status).toBe('sent');
    expect(entry.reason).toContain(late.id);
    expect(entry.reason).toContain('a second copy may reach the customer');
    expect(await lateMetric('not_cancelled')).toBe(1);

    // Its receipt answers whether it did: a step of its own, after the late `sent` one, naming
    // the copy; the message's status and outcome stay those of the copy the send recorded.
    const withReceipt = await eventually(async () => {
      const v = await s.get<MessageJson>(`/v1/messages/${view.messageId}`);
      return v.timeline.some((t) => t.carrier === 'smpp-a' && t.status === 'delivered')
        ? v
        : undefined;
    }, 10_000);
    const steps = withReceipt.timeline.filter((t) => t.carrier === 'smpp-a');
    expect(steps.map((t) => t.status)).toEqual(['sent', 'delivered']);
    expect(steps[1]!.reason).toBe(`late copy (carrier message id ${late.id}): delivered`);
    expect(withReceipt).toMatchObject({ status: 'delivered', carrier: 'http-b', attempts: 2 });
    expect(s.logLines('delivery receipt for an unknown message')).toEqual([]);

    // No code and no full number in what was logged about it.
    const log = s.notifier.logs.text();
    expect(log).toContain('late submit accepted after its deadline, could not be withdrawn');
    expect(log).not.toMatch(/\+1415550\d{4}/);
    expect(log).not.toMatch(/\b20000[1-4]\b/);
  });
});
