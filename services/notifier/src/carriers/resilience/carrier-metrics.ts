import { Counter, Gauge, Histogram, register as globalRegistry, type Registry } from 'prom-client';

/** Breaker state as the gauge reports it. WIRE VALUES (alerts and dashboards read them). */
export const BREAKER_STATE_VALUE = { closed: 0, half_open: 1, open: 2 } as const;

export type CarrierCallOutcome =
  | 'accepted'
  | 'recipient'
  | 'throttled'
  | 'timeout'
  | 'unavailable'
  | 'rejected'
  | 'open'
  | 'rate_limited'
  | 'bulkhead_full';

function getOrCreate<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/**
 * The carriers' metrics (labels are carrier ids, channels and outcomes only):
 * - `notifier_carrier_breaker_state{carrier}` gauge: 0 closed, 1 half-open, 2 open
 * - `notifier_carrier_calls_total{carrier,channel,outcome}` counter: each carrier tried or passed over
 * - `notifier_carrier_call_duration_seconds{carrier,outcome}` histogram: calls that reached the carrier
 * - `notifier_carrier_late_acceptances_total{carrier,outcome}` counter: messages a carrier took
 *   after their call was given up (outcome `cancelled`: withdrawn; `not_cancelled`: a second
 *   copy may reach the customer)
 * Registered once a registry (two senders on one registry share them).
 */
export class CarrierMetrics {
  readonly breakerState: Gauge<'carrier'>;
  readonly calls: Counter<'carrier' | 'channel' | 'outcome'>;
  readonly callDuration: Histogram<'carrier' | 'outcome'>;
  readonly lateAcceptances: Counter<'carrier' | 'outcome'>;

  constructor(registry: Registry = globalRegistry) {
    this.breakerState = getOrCreate(
      registry,
      'notifier_carrier_breaker_state',
      () =>
        new Gauge({
          name: 'notifier_carrier_breaker_state',
          help: 'Circuit breaker state per carrier: 0 closed, 1 half-open, 2 open',
          labelNames: ['carrier'],
          registers: [registry],
        }),
    );
    this.calls = getOrCreate(
      registry,
      'notifier_carrier_calls_total',
      () =>
        new Counter({
          name: 'notifier_carrier_calls_total',
          help: 'Carrier calls (and carriers passed over) by outcome',
          labelNames: ['carrier', 'channel', 'outcome'],
          registers: [registry],
        }),
    );
    this.callDuration = getOrCreate(
      registry,
      'notifier_carrier_call_duration_seconds',
      () =>
        new Histogram({
          name: 'notifier_carrier_call_duration_seconds',
          help: 'Time a carrier took to accept or refuse a message',
          labelNames: ['carrier', 'outcome'],
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10],
          registers: [registry],
        }),
    );
    this.lateAcceptances = getOrCreate(
      registry,
      'notifier_carrier_late_acceptances_total',
      () =>
        new Counter({
          name: 'notifier_carrier_late_acceptances_total',
          help: 'Messages a carrier took after their call was given up (cancelled: withdrawn)',
          labelNames: ['carrier', 'outcome'],
          registers: [registry],
        }),
    );
  }
}
