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

/** How long a message of a lower priority waits for the higher lanes to go idle before it starts anyway. */
export interface YieldPolicy {
  standardMs: number;
  bulkMs: number;
}

/**
 * Runs messages of each priority with that priority's own concurrency, so a
 * bulk backlog can only ever occupy the bulk lane, never a critical slot.
 */
export class PriorityLanes {
  private readonly lanes: Record<Priority, Semaphore>;
  private readonly stopping = new AbortController();

  constructor(
    private readonly dispatcher: DispatchService,
    private readonly metrics: NotifierMetrics,
    private readonly clock: Clock,
    limits: Record<Priority, LaneLimits>,
    private readonly maxBusAttempts: number,
    private readonly yieldPolicy: YieldPolicy = { standardMs: 20, bulkMs: 50 },
  ) {
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
    await this.lanes[lane].run(async () => {
      await this.yieldToHigher(lane);
      return this.dispatcher.dispatch(request, {
        requestedAt,
        lastDelivery: ctx.attempt >= this.maxBusAttempts,
        signal: this.stopping.signal,
      });
    });
  }

  /**
   * Lower lanes step aside while codes are being sent: they share the CPU, the database pool
   * and the carriers' windows with the critical lane. The wait is bounded, so bulk never stops.
   */
  private async yieldToHigher(lane: Priority): Promise<void> {
    if (lane === 'critical') return;
    await this.lanes.critical.whenIdle(
      lane === 'bulk' ? this.yieldPolicy.bulkMs : this.yieldPolicy.standardMs,
    );
    if (lane === 'bulk') await this.lanes.standard.whenIdle(this.yieldPolicy.standardMs);
  }

  /** Wakes messages waiting to retry, so they go back to the bus and the consumers can drain. */
  stop(): void {
    this.stopping.abort();
  }
}

function laneOf(queue: string): Priority | undefined {
  for (const [priority, name] of Object.entries(PRIORITY_QUEUES))
    if (name === queue) return priority as Priority;
  return undefined;
}
