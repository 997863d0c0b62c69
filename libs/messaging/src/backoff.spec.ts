import {
  DEFAULT_RECONNECT,
  reconnectDelay,
  retryPolicy,
  retryTier,
  spread,
  tierDelayMs,
  tierMaxDelayMs,
} from './backoff';

describe('reconnectDelay', () => {
  const policy = { initialDelayMs: 100, maxDelayMs: 5_000, factor: 2, jitter: 0.3 };

  it('grows exponentially from the initial delay without jitter at the midpoint', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4].map((a) => reconnectDelay(a, policy, mid))).toEqual([100, 200, 400, 800]);
  });

  it('never exceeds the maximum, even at the top of the jitter range', () => {
    expect(reconnectDelay(30, policy, () => 0.999)).toBe(5_000);
    expect(reconnectDelay(30, policy, () => 0)).toBe(3_500);
  });

  it('by default tries again within 3 s of a broker that comes back after a long outage', () => {
    // Attempt 10 is some 40 s into an outage: the next try is never more than 3 s away.
    expect(reconnectDelay(10, DEFAULT_RECONNECT, () => 0.999)).toBeLessThanOrEqual(3_000);
    expect(reconnectDelay(10, DEFAULT_RECONNECT, () => 0)).toBeGreaterThanOrEqual(2_000);
  });

  it('spreads within ±jitter', () => {
    for (let i = 0; i < 200; i++) {
      const d = reconnectDelay(3, policy);
      expect(d).toBeGreaterThanOrEqual(280);
      expect(d).toBeLessThanOrEqual(520);
    }
  });
});

describe('retry tiers', () => {
  const policy = retryPolicy({ delaysMs: [1_000, 5_000, 25_000], jitter: 0.2 });

  it('allows the first try plus one retry per tier by default', () => {
    expect(policy.maxAttempts).toBe(4);
  });

  it('maps the n-th failure to tier n and repeats the last tier', () => {
    expect([1, 2, 3, 4, 9].map((f) => retryTier(f, policy))).toEqual([1, 2, 3, 3, 3]);
  });

  it('keeps every per-message delay within the tier queue TTL', () => {
    for (const tier of [1, 2, 3]) {
      const max = tierMaxDelayMs(tier, policy);
      for (const r of [0, 0.25, 0.5, 0.999]) {
        const d = tierDelayMs(tier, policy, () => r);
        expect(d).toBeLessThanOrEqual(max);
        expect(d).toBeGreaterThanOrEqual(
          Math.floor(spread(policy.delaysMs[tier - 1] as number, 0.2, () => 0)),
        );
      }
    }
    expect(tierMaxDelayMs(1, policy)).toBe(1_200);
  });

  it('grows between tiers even at the worst jitter', () => {
    expect(tierDelayMs(1, policy, () => 0.999)).toBeLessThan(tierDelayMs(2, policy, () => 0));
  });

  it('rejects nonsense policies', () => {
    expect(() => retryPolicy({ delaysMs: [] })).toThrow(RangeError);
    expect(() => retryPolicy({ delaysMs: [0] })).toThrow(RangeError);
    expect(() => retryPolicy({ jitter: 1 })).toThrow(RangeError);
    expect(() => retryPolicy({ maxAttempts: 0 })).toThrow(RangeError);
  });
});
