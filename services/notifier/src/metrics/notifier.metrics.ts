import type { Channel, Priority } from '@phonegate/contracts';
import type { MetricsService } from '@phonegate/platform';
import type { Counter, Histogram } from 'prom-client';

/**
 * The notifier's metrics. Labels are carrier ids, channels, priorities,
 * queue names, outcomes and reasons: never a code, a destination or an id.
 */
export class NotifierMetrics {
  readonly sends: Counter<'carrier' | 'channel' | 'priority' | 'outcome'>;
  readonly sendLatency: Histogram<'priority'>;
  readonly dropped: Counter<'reason' | 'priority'>;
  readonly messages: Counter<'priority' | 'channel' | 'status'>;
  readonly queueLag: Histogram<'queue'>;
  readonly laneWait: Histogram<'priority'>;
  readonly receipts: Counter<'carrier' | 'status'>;
  readonly laneHolds: Counter<'lane'>;
  readonly breakerTrips: Counter<'carrier' | 'signal'>;

  constructor(metrics: MetricsService) {
    this.sends = metrics.counter('notifier_sends_total', 'Send attempts by carrier and outcome', [
      'carrier',
      'channel',
      'priority',
      'outcome',
    ]);
    this.sendLatency = metrics.histogram(
      'notifier_send_latency_seconds',
      'From the request (envelope time) to a carrier accepting the message',
      ['priority'],
      [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    );
    this.dropped = metrics.counter(
      'notifier_dropped_total',
      'Messages dropped (never sent) by reason and priority',
      ['reason', 'priority'],
    );
    this.messages = metrics.counter(
      'notifier_messages_total',
      'Messages reaching a status of the message log (sent, delivered, failed, dropped), once per message and status',
      ['priority', 'channel', 'status'],
    );
    this.queueLag = metrics.histogram(
      'bus_queue_lag_seconds',
      'From an event being published (envelope time) to a consumer taking it',
      ['queue'],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    );
    this.laneWait = metrics.histogram(
      'notifier_lane_wait_seconds',
      'From a replica receiving a message to its priority lane starting to send it (the wait for a send slot and, for standard and bulk, stepping aside for codes)',
      ['priority'],
      [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    );
    this.receipts = metrics.counter(
      'notifier_receipts_total',
      'Delivery receipts by carrier and status',
      ['carrier', 'status'],
    );
    this.laneHolds = metrics.counter(
      'notifier_lane_holds_total',
      'Standard and bulk messages held because codes were late (critical lane backlogged)',
      ['lane'],
    );
    this.breakerTrips = metrics.counter(
      'notifier_carrier_breaker_trips_total',
      'Carrier breakers opened by a signal other than the calls themselves (delivery_rate)',
      ['carrier', 'signal'],
    );
  }
}

/** The statuses `notifier_messages_total` counts (WIRE VALUES of the message log). */
export type MessageOutcome = 'sent' | 'delivered' | 'failed' | 'dropped';

/** `notifier_messages_total` for one status change of the message log (bounded labels only). */
export function countMessage(
  metrics: NotifierMetrics,
  message: { priority: Priority; channel: Channel },
  status: MessageOutcome,
): void {
  metrics.messages.inc({ priority: message.priority, channel: message.channel, status });
}

/** A reason as a metric label: the stable word before any detail. */
export function reasonLabel(reason: string): string {
  const word = /^[a-z_]+/.exec(reason)?.[0];
  return word && word.length <= 40 ? word : 'other';
}
