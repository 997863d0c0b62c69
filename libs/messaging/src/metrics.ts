import { Counter, type Registry, register as defaultRegistry } from 'prom-client';

/**
 * Bus counters. Labels are queue names, exchanges and outcomes only: never a
 * routing key with data in it, never an id.
 */
export interface BusMetrics {
  published(exchange: string): void;
  publishFailed(exchange: string, reason: 'timeout' | 'closed' | 'overloaded' | 'unavailable'): void;
  /** A publish put back in line after a nack or a lost channel/connection. */
  republished(exchange: string): void;
  consumed(queue: string, outcome: 'ok' | 'duplicate'): void;
  retried(queue: string): void;
  parked(queue: string): void;
  rpc(pattern: string, outcome: 'ok' | 'error' | 'unavailable'): void;
}

export const NO_METRICS: BusMetrics = {
  published: () => undefined,
  publishFailed: () => undefined,
  republished: () => undefined,
  consumed: () => undefined,
  retried: () => undefined,
  parked: () => undefined,
  rpc: () => undefined,
};

function counter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[],
): Counter<L> {
  const existing = registry.getSingleMetric(name) as Counter<L> | undefined;
  return existing ?? new Counter<L>({ name, help, labelNames, registers: [registry] });
}

/** Per-label-set children, looked up once (inc() on a child skips label hashing on the hot path). */
function cached<L extends string>(c: Counter<L>): (labels: Record<L, string>) => { inc(): void } {
  const children = new Map<string, { inc(): void }>();
  return (labels) => {
    const key = Object.values(labels).join('\u0000');
    let child = children.get(key);
    if (!child) {
      child = c.labels(labels as never);
      children.set(key, child);
    }
    return child;
  };
}

/** prom-client counters on `registry` (default: prom-client's global registry); reused if already registered. */
export function promBusMetrics(registry: Registry = defaultRegistry): BusMetrics {
  const published = cached(
    counter(registry, 'bus_published_total', 'Messages confirmed by the broker', ['exchange']),
  );
  const publishFailed = counter(registry, 'bus_publish_failed_total', 'Publishes given up', [
    'exchange',
    'reason',
  ]);
  const republished = counter(
    registry,
    'bus_republished_total',
    'Publishes re-sent after a nack or lost connection',
    ['exchange'],
  );
  const consumed = cached(
    counter(registry, 'bus_consumed_total', 'Messages handled and acked', ['queue', 'outcome']),
  );
  const retried = counter(registry, 'bus_retried_total', 'Messages sent to a retry tier', [
    'queue',
  ]);
  const parked = counter(registry, 'bus_parked_total', 'Messages parked in a dead-letter queue', [
    'queue',
  ]);
  const rpc = counter(registry, 'bus_rpc_requests_total', 'Request-reply calls made', [
    'pattern',
    'outcome',
  ]);
  return {
    published: (exchange) => published({ exchange }).inc(),
    publishFailed: (exchange, reason) => publishFailed.inc({ exchange, reason }),
    republished: (exchange) => republished.inc({ exchange }),
    consumed: (queue, outcome) => consumed({ queue, outcome }).inc(),
    retried: (queue) => retried.inc({ queue }),
    parked: (queue) => parked.inc({ queue }),
    rpc: (pattern, outcome) => rpc.inc({ pattern, outcome }),
  };
}
