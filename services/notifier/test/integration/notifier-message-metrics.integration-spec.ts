import { eventually } from '@phonegate/platform/testing';
import { MetricsScrape } from '../support/metrics-scrape';
import { type CodeRequest, SimNotifier } from '../support/sim-notifier';

jest.setTimeout(90_000);

/**
 * The per-message metrics sale-day operators read, scraped from the service's /metrics over the
 * carrier simulator: final outcomes counted once per message whatever the redeliveries
 * (`notifier_messages_total`), drops split by priority (`notifier_dropped_total`), and the wait
 * for a send slot of the priority lane (`notifier_lane_wait_seconds`).
 */
describe('notifier: per-message metrics', () => {
  let s: SimNotifier;

  beforeAll(async () => {
    // One critical slot: a few codes at once must queue for it (the lane wait).
    s = await SimNotifier.start({
      numbers: '+1415558',
      env: { NOTIFIER_CRITICAL_CONCURRENCY: '1' },
    });
  });

  afterAll(async () => {
    await s?.close();
  });

  async function scrape(): Promise<MetricsScrape> {
    const res = await s.notifier.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    return new MetricsScrape(res.body);
  }

  /** Waits until the message is sent (or already delivered). */
  async function sentAfter(message: CodeRequest): Promise<void> {
    await eventually(
      async () => ['sent', 'delivered'].includes((await s.statusOf(message.messageId)) ?? ''),
      20_000,
    );
  }

  const critical = (status: string) => ({ priority: 'critical', channel: 'sms', status });

  it('counts each message once per status it reaches, not per delivery or attempt', async () => {
    const before = await scrape();
    const codes: CodeRequest[] = [];
    for (let i = 0; i < 3; i++) codes.push(await s.publish(s.code()));
    // The same messages again while they are being sent (new events, same message ids: a
    // producer's retry, a redelivery).
    await s.publish(codes[0]!);
    await s.publish(codes[1]!);
    // Refused for good by the carrier (an invalid number): failed without ever being sent.
    const refused = await s.publish({ ...s.code(), to: '+99914155580' });

    await eventually(async () => {
      for (const c of codes) if ((await s.statusOf(c.messageId)) !== 'delivered') return false;
      return (await s.statusOf(refused.messageId)) === 'failed';
    }, 20_000);
    // Redeliveries of finished messages, after the fact: still nothing counted again.
    await s.publish(codes[2]!);
    await s.publish(refused);
    // A last code, delivered: with one slot, the redeliveries were handled before it.
    const marker = await s.publish(s.code());
    await eventually(async () => (await s.statusOf(marker.messageId)) === 'delivered', 20_000);

    const after = await scrape();
    const delta = (status: string) =>
      after.value('notifier_messages_total', critical(status)) -
      before.value('notifier_messages_total', critical(status));
    expect(delta('sent')).toBe(3 + 1); // and the last code
    expect(delta('delivered')).toBe(3 + 1);
    expect(delta('failed')).toBe(1);
    expect(delta('dropped')).toBe(0);
    // Each code reached the carrier once.
    for (const c of codes) expect(s.sim.store.list({ to: c.to })).toHaveLength(1);
    // Bounded labels only: no id, number or free text.
    for (const labels of after.labelSets('notifier_messages_total'))
      for (const value of Object.values(labels)) expect(value).toMatch(/^[a-z_-]{1,40}$/);
  });

  it('counts a message a receipt fails once, however many copies of the receipt come', async () => {
    s.sim.setBehaviour('smpp-a', { receiptStatus: 'undelivered', receiptCopies: 3 });
    try {
      const before = await scrape();
      const codes = [await s.publish(s.code()), await s.publish(s.code())];
      await eventually(async () => {
        for (const c of codes) if ((await s.statusOf(c.messageId)) !== 'failed') return false;
        return true;
      }, 20_000);
      await new Promise((r) => setTimeout(r, 300)); // the receipts' copies
      const after = await scrape();
      const delta = (status: string) =>
        after.value('notifier_messages_total', critical(status)) -
        before.value('notifier_messages_total', critical(status));
      expect(delta('sent')).toBe(2);
      expect(delta('failed')).toBe(2);
      expect(delta('delivered')).toBe(0);
    } finally {
      s.sim.setBehaviour('smpp-a', { receiptStatus: 'delivered', receiptCopies: 1 });
    }
  });

  it('splits drops by priority: codes dropped as expired apart from bulk messages', async () => {
    const before = await scrape();
    const past = new Date(Date.now() - 1_000).toISOString();
    const code = await s.publish({ ...s.code(), notAfter: past });
    const bulk = await s.publish({ ...s.code(), priority: 'bulk', notAfter: past });
    const bulk2 = await s.publish({ ...s.code(), priority: 'bulk', notAfter: past });
    await eventually(async () => {
      for (const m of [code, bulk, bulk2])
        if ((await s.statusOf(m.messageId)) !== 'dropped') return false;
      return true;
    }, 15_000);
    // A redelivery of a dropped message finds its row dropped: not counted again.
    await s.publish(code);
    // A last code, delivered: with one slot, the redelivery was handled before it.
    const marker = await s.publish(s.code());
    await eventually(async () => (await s.statusOf(marker.messageId)) === 'delivered', 20_000);

    const after = await scrape();
    const dropped = (priority: string) =>
      after.value('notifier_dropped_total', { reason: 'expired', priority }) -
      before.value('notifier_dropped_total', { reason: 'expired', priority });
    expect(dropped('critical')).toBe(1);
    expect(dropped('bulk')).toBe(2);
    expect(dropped('standard')).toBe(0);
    const messages = (priority: string) =>
      after.value('notifier_messages_total', { priority, channel: 'sms', status: 'dropped' }) -
      before.value('notifier_messages_total', { priority, channel: 'sms', status: 'dropped' });
    expect(messages('critical')).toBe(1);
    expect(messages('bulk')).toBe(2);
    // Every drop series carries its priority (the alerts and the dashboard split by it).
    for (const labels of after.labelSets('notifier_dropped_total'))
      expect(['critical', 'standard', 'bulk']).toContain(labels.priority);
  });

  it('measures how long codes wait for a send slot of their lane', async () => {
    s.sim.setBehaviour('smpp-a', { latencyMs: 400 });
    try {
      const before = await scrape();
      const codes = await Promise.all(Array.from({ length: 5 }, () => s.publish(s.code())));
      for (const c of codes) await sentAfter(c);
      const after = await scrape();
      const delta = (name: string, labels: Record<string, string> = {}) =>
        after.value(name, { priority: 'critical', ...labels }) -
        before.value(name, { priority: 'critical', ...labels });
      expect(delta('notifier_lane_wait_seconds_count')).toBe(5);
      // One slot and a 400 ms carrier: each code waited for the ones ahead of it (0, 0.4, 0.8,
      // 1.2, 1.6 s), so the last two waited more than a second...
      expect(delta('notifier_lane_wait_seconds_sum')).toBeGreaterThan(3);
      expect(delta('notifier_lane_wait_seconds_bucket', { le: '1' })).toBeLessThanOrEqual(3);
      // ...inside the notifier: every one was taken from the queue within a second.
      expect(
        after.value('bus_queue_lag_seconds_bucket', { queue: 'notifier.critical', le: '1' }) -
          before.value('bus_queue_lag_seconds_bucket', { queue: 'notifier.critical', le: '1' }),
      ).toBe(5);
    } finally {
      s.sim.setBehaviour('smpp-a', { latencyMs: 0 });
    }
  });
});
