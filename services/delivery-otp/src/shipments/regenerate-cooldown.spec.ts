import { regenerateCooldownMs, regenerateWaitMs } from './regenerate-cooldown';

describe('regenerate cooldown (C9)', () => {
  it('doubles with each send: 30 s after the issue, then 60 s, 120 s, 240 s', () => {
    expect([0, 1, 2, 3].map((n) => regenerateCooldownMs(n, 30_000))).toEqual([30_000, 60_000, 120_000, 240_000]);
  });

  it('answers the time actually left since the last send, never less than zero', () => {
    const sent = 1_000_000;
    expect(regenerateWaitMs(0, sent, sent + 10_000, 30_000)).toBe(20_000);
    expect(regenerateWaitMs(2, sent, sent + 119_500, 30_000)).toBe(500);
    expect(regenerateWaitMs(2, sent, sent + 120_000, 30_000)).toBe(0);
    expect(regenerateWaitMs(1, 0, sent, 30_000)).toBe(0);
  });
});
