import type { Priority } from '@phonegate/contracts';
import type { BusContext } from '@phonegate/messaging';
import type { Clock } from '@phonegate/platform';
import type { NotifierMetrics } from '../metrics/notifier.metrics';
import type { DispatchService, NotificationRequest } from './dispatch.service';
import { Semaphore } from './semaphore';

/** WIRE NAMES: the notifier's priority queues are `notifier.<priority>`. */
export const PRIORITY_QUEUES: Record<Priority, string> = {
  critical: 'notifier.critical',
  standard: 'notifier.standard',
  bulk: 'notifier.bulk',
};

export interface LaneLimits {
  concurrency: number;
}

/**
 * How long a message of a lower priority waits for the higher lanes to go idle before it starts
 * anyway; and, while codes are late, how long it is held.
 */
export interface YieldPolicy {
  standardMs: number;
  bulkMs: number;
  /**
   * Codes are late when the critical lane has messages waiting for a slot, or the recent
   * critical messages (moving average) started this long after they were requested: the
   * platform is past its capacity, and every order update sent takes CPU, database and carrier
   * capacity from the codes. Then lower-lane messages are held.
   */
  pressureLagMs: number;
  /**
   * While codes are late, one message per lower lane in this interval is let through, after
   * being held at least this long (so order updates trickle instead of stopping).
   */
  maxHoldMs: number;
}

const DEFAULT_YIELD: YieldPolicy = {
  standardMs: 20,
  bulkMs: 50,
  pressureLagMs: 250,
  maxHoldMs: 2_000,
};
/** The lag average counts only while codes keep coming: no critical start for this long, no pressure. */
const PRESSURE_MEMORY_MS = 1_000;
const HOLD_POLL_MS = 25;

/**
 * Runs messages of each priority with that priority's own concurrency, so a
 * bulk backlog can only ever occupy the bulk lane, never a critical slot.
 */
export class PriorityLanes {
  private readonly lanes: Record<Priority, Semaphore>;
  private readonly stopping = new AbortController();
  private readonly yieldPolicy: YieldPolicy;
  /** Moving average of how late critical messages start (ms), and when the last one started. */
  private criticalLagMs = 0;
  private lastCriticalAt = Number.NEGATIVE_INFINITY;
  /** When a held message of each lower lane was last let through while codes were late. */
  private readonly lastLetThrough: Record<Priority, number> = {
    critical: Number.NEGATIVE_INFINITY,
    standard: Number.NEGATIVE_INFINITY,
    bulk: Number.NEGATIVE_INFINITY,
  };

  constructor(
    private readonly dispatcher: DispatchService,
    private readonly metrics: NotifierMetrics,
    private readonly clock: Clock,
    limits: Record<Priority, LaneLimits>,
    private readonly maxBusAttempts: number,
    yieldPolicy: Partial<YieldPolicy> = {},
  ) {
    this.yieldPolicy = { ...DEFAULT_YIELD, ...yieldPolicy };
    this.lanes = {
      critical: new Semaphore(limits.critical.concurrency),
      standard: new Semaphore(limits.standard.concurrency),
      bulk: new Semaphore(limits.bulk.concurrency),
    };
  }

  async run(request: NotificationRequest, ctx: BusContext): Promise<void> {
    const requestedAt = new Date(Date.parse(ctx.envelope.time));
    this.metrics.queueLag.observe(
      { queue: ctx.queue },
      Math.max(0, this.clock.nowMs() - requestedAt.getTime()) / 1000,
    );
    const lane = laneOf(ctx.queue) ?? request.priority;
    const receivedAt = this.clock.nowMs();
    await this.lanes[lane].run(async () => {
      if (lane === 'critical') this.noteCriticalStart(requestedAt.getTime());
      else await this.yieldToHigher(lane);
      // The wait inside this replica, after bus_queue_lag_seconds: for a send slot of the lane
      // and, for standard and bulk, stepping aside for codes.
      this.metrics.laneWait.observe(
        { priority: lane },
        Math.max(0, this.clock.nowMs() - receivedAt) / 1000,
      );
      return this.dispatcher.dispatch(request, {
        requestedAt,
        lastDelivery: ctx.attempt >= this.maxBusAttempts,
        signal: this.stopping.signal,
      });
    });
  }

  private noteCriticalStart(requestedAtMs: number): void {
    const now = this.clock.nowMs();
    const lag = Math.max(0, now - requestedAtMs);
    this.criticalLagMs =
      now - this.lastCriticalAt > PRESSURE_MEMORY_MS ? lag : this.criticalLagMs * 0.8 + lag * 0.2;
    this.lastCriticalAt = now;
  }

  /** Codes are late (see `YieldPolicy.pressureLagMs`). */
  codesLate(): boolean {
    if (this.lanes.critical.waiting > 0) return true;
    return (
      this.clock.nowMs() - this.lastCriticalAt <= PRESSURE_MEMORY_MS &&
      this.criticalLagMs > this.yieldPolicy.pressureLagMs
    );
  }

  /**
   * Lower lanes step aside while codes are being sent: they share the CPU, the database pool
   * and the carriers with the critical lane. The wait for the critical lane to go idle is
   * short; while codes are late, messages are held, and each lower lane lets one of them
   * through every `maxHoldMs` (one that has waited at least that long): order updates trickle
   * under a code backlog, and go at full speed again as soon as the codes are on time.
   */
  private async yieldToHigher(lane: Priority): Promise<void> {
    await this.lanes.critical.whenIdle(
      lane === 'bulk' ? this.yieldPolicy.bulkMs : this.yieldPolicy.standardMs,
    );
    if (lane === 'bulk') await this.lanes.standard.whenIdle(this.yieldPolicy.standardMs);
    if (!this.codesLate()) return;
    this.metrics.laneHolds.inc({ lane });
    const since = this.clock.nowMs();
    const { maxHoldMs } = this.yieldPolicy;
    while (this.codesLate() && !this.stopping.signal.aborted) {
      const now = this.clock.nowMs();
      if (now - since >= maxHoldMs && now - this.lastLetThrough[lane] >= maxHoldMs) {
        this.lastLetThrough[lane] = now;
        return;
      }
      await sleep(HOLD_POLL_MS);
    }
  }

  /** Wakes messages waiting to retry, so they go back to the bus and the consumers can drain. */
  stop(): void {
    this.stopping.abort();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function laneOf(queue: string): Priority | undefined {
  for (const [priority, name] of Object.entries(PRIORITY_QUEUES))
    if (name === queue) return priority as Priority;
  return undefined;
}
