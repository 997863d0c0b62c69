import { MemoryRateLimiter, takeToken, takeTokens, type BucketState } from './token-bucket';

const limits = { ratePerSec: 10, capacity: 3 };

describe('takeToken', () => {
  it('starts full and lets a burst of `capacity` through', () => {
    let state: BucketState | undefined;
    const allowed: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      const step = takeToken(state, 1000, limits);
      state = step.state;
      allowed.push(step.result.allowed);
    }
    expect(allowed).toEqual([true, true, true, false]);
  });

  it('says how long until the next token', () => {
    const empty = { tokens: 0.25, ts: 1000 };
    expect(takeToken(empty, 1000, limits).result).toEqual({ allowed: false, retryAfterMs: 75 });
  });

  it('refills at the rate and never above capacity', () => {
    expect(takeToken({ tokens: 0, ts: 0 }, 100, limits).result.allowed).toBe(true); // 1 token after 100 ms
    expect(takeToken({ tokens: 0, ts: 0 }, 50, limits).result.allowed).toBe(false);
    expect(takeToken({ tokens: 0, ts: 0 }, 60_000, limits).state.tokens).toBe(2); // capped at 3, one taken
  });

  it('ignores a clock that went backwards', () => {
    const { state } = takeToken({ tokens: 1, ts: 5000 }, 4000, limits);
    expect(state).toEqual({ tokens: 0, ts: 5000 });
  });

  it('holds the rate over time: at most capacity + rate × elapsed', async () => {
    let now = 0;
    const limiter = new MemoryRateLimiter(() => now);
    let granted = 0;
    for (now = 0; now <= 2000; now += 7) if ((await limiter.take('c', limits)).allowed) granted++;
    expect(granted).toBeLessThanOrEqual(3 + 20);
    expect(granted).toBeGreaterThanOrEqual(20);
  });
});

describe('takeTokens', () => {
  it('grants as many whole tokens as there are, up to the number wanted', () => {
    expect(takeTokens({ tokens: 2.5, ts: 1000 }, 1000, limits, 5)).toEqual({
      state: { tokens: 0.5, ts: 1000 },
      granted: 2,
      retryAfterMs: 0,
    });
    expect(takeTokens({ tokens: 3, ts: 1000 }, 1000, limits, 2).granted).toBe(2);
  });

  it('grants none and says when one is there when less than one is left', () => {
    expect(takeTokens({ tokens: 0.5, ts: 1000 }, 1000, limits, 4)).toEqual({
      state: { tokens: 0.5, ts: 1000 },
      granted: 0,
      retryAfterMs: 50,
    });
  });
});
