import type { Priority } from '@phonegate/contracts';
import type { BusContext } from '@phonegate/messaging';
import { Clock, MetricsService } from '@phonegate/platform';
import { NotifierMetrics } from '../metrics/notifier.metrics';
import type { DispatchService, NotificationRequest } from './dispatch.service';
import { PRIORITY_QUEUES, PriorityLanes } from './priority-lanes';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records when each message started; each takes `workMs`. */
class RecordingDispatcher {
  readonly started: { id: string; priority: Priority; at: number }[] = [];
  workMs = 5;
  async dispatch(request: NotificationRequest): Promise<void> {
    this.started.push({ id: request.messageId, priority: request.priority, at: Date.now() });
    await sleep(this.workMs);
  }
}

function ctx(priority: Priority, requestedAt: number): BusContext {
  return {
    queue: PRIORITY_QUEUES[priority],
    attempt: 1,
    envelope: { time: new Date(requestedAt).toISOString() },
  } as unknown as BusContext;
}

function request(priority: Priority, ref: string): NotificationRequest {
  return { priority, messageId: ref } as unknown as NotificationRequest;
}

describe('PriorityLanes', () => {
  let dispatcher: RecordingDispatcher;
  let metrics: NotifierMetrics;
  let lanes: PriorityLanes;

  function build(critical = 4, maxHoldMs = 300): void {
    dispatcher = new RecordingDispatcher();
    metrics = new NotifierMetrics(new MetricsService('notifier', false));
    lanes = new PriorityLanes(
      dispatcher as unknown as DispatchService,
      metrics,
      new Clock(),
      {
        critical: { concurrency: critical },
        standard: { concurrency: 4 },
        bulk: { concurrency: 4 },
      },
      5,
      { standardMs: 5, bulkMs: 5, pressureLagMs: 100, maxHoldMs },
    );
  }

  afterEach(() => lanes.stop());

  async function holds(lane: string): Promise<number> {
    const value = await metrics.laneHolds.get();
    return value.values.find((v) => v.labels['lane'] === lane)?.value ?? 0;
  }

  it('measures the wait for a send slot by priority (after the queue lag, not in it)', async () => {
    build(1);
    dispatcher.workMs = 100;
    // Requested long ago (queue lag), received now: only the wait for the one slot counts.
    const old = Date.now() - 60_000;
    await Promise.all(
      [1, 2, 3].map((i) => lanes.run(request('critical', `code${i}`), ctx('critical', old))),
    );
    const { values } = await metrics.laneWait.get();
    const of = (name: string, labels: Record<string, string | number> = {}) =>
      values
        .filter(
          (v) =>
            v.metricName === name &&
            Object.entries(labels).every(
              ([k, want]) => String((v.labels as Record<string, unknown>)[k]) === String(want),
            ),
        )
        .reduce((sum, v) => sum + v.value, 0);
    expect(of('notifier_lane_wait_seconds_count', { priority: 'critical' })).toBe(3);
    expect(of('notifier_lane_wait_seconds_count', { priority: 'standard' })).toBe(0);
    // The first went at once, the others waited for one and two messages (~0.1 s, ~0.2 s).
    expect(of('notifier_lane_wait_seconds_bucket', { priority: 'critical', le: 0.05 })).toBe(1);
    const sum = of('notifier_lane_wait_seconds_sum', { priority: 'critical' });
    expect(sum).toBeGreaterThanOrEqual(0.25);
    expect(sum).toBeLessThan(30); // never the 60 s the messages spent on the bus
  });

  it('runs an order update without holding it while codes are on time', async () => {
    build();
    await lanes.run(request('critical', 'code'), ctx('critical', Date.now()));
    const t = Date.now();
    await lanes.run(request('standard', 'order'), ctx('standard', Date.now()));
    expect(dispatcher.started.map((s) => s.id)).toEqual(['code', 'order']);
    expect(dispatcher.started[1]!.at - t).toBeLessThan(60);
    expect(await holds('standard')).toBe(0);
  });

  it('holds order updates while codes start late, and lets them go when the codes catch up', async () => {
    // A long max hold: released well before it, they went because the codes caught up (a busy
    // machine's timers may run late by tens of ms; the 300 ms hold could not tell them apart).
    build(4, 3_000);
    // Codes requested 500 ms ago: the platform is behind (lag above 100 ms).
    const late = Date.now() - 500;
    await Promise.all(
      [1, 2, 3].map((i) => lanes.run(request('critical', `code${i}`), ctx('critical', late))),
    );
    expect(lanes.codesLate()).toBe(true);
    const t = Date.now();
    const order = lanes.run(request('standard', 'order'), ctx('standard', Date.now()));
    const bulk = lanes.run(request('bulk', 'bulk'), ctx('bulk', Date.now()));
    await sleep(80);
    expect(dispatcher.started.map((s) => s.id)).not.toContain('order');
    // Codes on time again: the average drops below 100 ms and the held messages go.
    for (let i = 0; i < 12; i++)
      await lanes.run(request('critical', `fresh${i}`), ctx('critical', Date.now()));
    expect(lanes.codesLate()).toBe(false);
    await Promise.all([order, bulk]);
    const orderAt = dispatcher.started.find((s) => s.id === 'order')!.at;
    expect(orderAt - t).toBeGreaterThanOrEqual(80);
    expect(orderAt - t).toBeLessThan(1_500);
    expect(await holds('standard')).toBe(1);
    expect(await holds('bulk')).toBe(1);
  });

  it('holds an order update at most maxHoldMs, so a code backlog never stops them', async () => {
    build();
    const late = Date.now() - 1_000;
    await lanes.run(request('critical', 'code'), ctx('critical', late));
    // Keep codes coming late for longer than maxHoldMs (300 ms).
    let feeding = true;
    const feed = (async () => {
      while (feeding) {
        await lanes.run(request('critical', 'code'), ctx('critical', Date.now() - 1_000));
        await sleep(20);
      }
    })();
    const t = Date.now();
    await lanes.run(request('standard', 'order'), ctx('standard', Date.now()));
    const waited = Date.now() - t;
    feeding = false;
    await feed;
    expect(waited).toBeGreaterThanOrEqual(290);
    expect(waited).toBeLessThan(600);
  });

  it('counts codes waiting for a critical slot as late, whatever their lag', async () => {
    build(1);
    dispatcher.workMs = 150;
    const now = Date.now();
    const first = lanes.run(request('critical', 'c1'), ctx('critical', now));
    const second = lanes.run(request('critical', 'c2'), ctx('critical', now));
    await sleep(20);
    expect(lanes.codesLate()).toBe(true);
    await Promise.all([first, second]);
    expect(lanes.codesLate()).toBe(false);
  });

  it('forgets the lag once codes stop coming', async () => {
    build();
    await lanes.run(request('critical', 'code'), ctx('critical', Date.now() - 1_000));
    expect(lanes.codesLate()).toBe(true);
    await sleep(1_050);
    expect(lanes.codesLate()).toBe(false);
  });

  it('lets held order updates through one at a time, maxHoldMs apart, while codes stay late', async () => {
    build();
    let feeding = true;
    const feed = (async () => {
      while (feeding) {
        await lanes.run(request('critical', 'code'), ctx('critical', Date.now() - 1_000));
        await sleep(20);
      }
    })();
    await sleep(30);
    const t = Date.now();
    await Promise.all(
      [1, 2, 3].map((i) =>
        lanes.run(request('standard', `order${i}`), ctx('standard', Date.now())),
      ),
    );
    feeding = false;
    await feed;
    const starts = dispatcher.started
      .filter((s) => s.id.startsWith('order'))
      .map((s) => s.at - t)
      .sort((a, b) => a - b);
    expect(starts).toHaveLength(3);
    expect(starts[0]).toBeGreaterThanOrEqual(290);
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(280);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(280);
  });
});
