/**
 * Back-off arithmetic shared by the connection manager (reconnect delays) and
 * consumers (retry tiers). Pure functions; `random` is injectable for tests.
 */

export interface ReconnectPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
  /** 0..1: the delay is spread over ±jitter of its nominal value. */
  jitter: number;
}

/**
 * A reconnect attempt to a broker that is down is one refused TCP connect, so the cap is short:
 * after a broker outage every service is back within 3 s of the broker (the sale-day crash
 * drills' recovery target is 10 s; at 15 s a service sat out up to 15 s more after
 * `rabbitmqctl start_app`). The ±30 % jitter keeps replicas from reconnecting in one burst.
 */
export const DEFAULT_RECONNECT: ReconnectPolicy = {
  initialDelayMs: 250,
  maxDelayMs: 3_000,
  factor: 2,
  jitter: 0.3,
};

/** Delay before reconnect attempt `attempt` (1-based), never above maxDelayMs. */
export function reconnectDelay(
  attempt: number,
  policy: ReconnectPolicy,
  random: () => number = Math.random,
): number {
  const nominal = Math.min(
    policy.maxDelayMs,
    policy.initialDelayMs * policy.factor ** Math.max(0, attempt - 1),
  );
  return Math.min(
    policy.maxDelayMs,
    Math.max(0, Math.round(spread(nominal, policy.jitter, random))),
  );
}

/** `value` moved uniformly within ±jitter of itself. */
export function spread(value: number, jitter: number, random: () => number = Math.random): number {
  return value * (1 + jitter * (2 * random() - 1));
}

export interface RetryPolicy {
  /** Nominal delay of each retry tier, e.g. [1000, 5000, 25000]. */
  delaysMs: readonly number[];
  /** 0..1: per-message spread within a tier. */
  jitter: number;
  /** Handler runs in all (first try + retries) before the message is parked. */
  maxAttempts: number;
}

export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [1_000, 5_000, 25_000];

export function retryPolicy(input: Partial<RetryPolicy> = {}): RetryPolicy {
  const delaysMs = input.delaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  if (delaysMs.length === 0 || delaysMs.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new RangeError('retry.delaysMs must be a non-empty list of positive integers (ms)');
  }
  const jitter = input.jitter ?? 0.2;
  if (jitter < 0 || jitter >= 1) throw new RangeError('retry.jitter must be in [0, 1)');
  const maxAttempts = input.maxAttempts ?? delaysMs.length + 1;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1)
    throw new RangeError('retry.maxAttempts must be >= 1');
  return { delaysMs, jitter, maxAttempts };
}

/** Retry tier (1-based) for the n-th failure: the last tier repeats. */
export function retryTier(failures: number, policy: RetryPolicy): number {
  return Math.min(Math.max(1, failures), policy.delaysMs.length);
}

/** The largest delay a tier can give a message: that tier queue's TTL. */
export function tierMaxDelayMs(tier: number, policy: RetryPolicy): number {
  return Math.ceil(nominalDelay(tier, policy) * (1 + policy.jitter));
}

/**
 * Per-message expiration within a tier. Messages expire at the head of a
 * queue, so the jitter is bounded (± a fraction of the tier's delay) and a
 * message can be held back at most by that spread.
 */
export function tierDelayMs(
  tier: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const nominal = nominalDelay(tier, policy);
  return Math.max(
    1,
    Math.min(tierMaxDelayMs(tier, policy), Math.round(spread(nominal, policy.jitter, random))),
  );
}

function nominalDelay(tier: number, policy: RetryPolicy): number {
  const d = policy.delaysMs[tier - 1] ?? policy.delaysMs[policy.delaysMs.length - 1];
  if (d === undefined) throw new RangeError(`no retry tier ${tier}`);
  return d;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
