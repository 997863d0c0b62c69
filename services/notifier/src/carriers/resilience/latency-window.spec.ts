import { LatencyWindow } from './latency-window';

describe('LatencyWindow', () => {
  it('answers nearest-rank percentiles and the error rate', () => {
    const w = new LatencyWindow(100);
    for (let i = 1; i <= 100; i++) w.record(i, i % 10 === 0);
    expect(w.percentile(50)).toBe(50);
    expect(w.percentile(99)).toBe(99);
    expect(w.percentile(100)).toBe(100);
    expect(w.errorRate()).toBeCloseTo(0.1);
  });

  it('keeps only the last N calls', () => {
    const w = new LatencyWindow(3);
    for (const ms of [1000, 1000, 1000, 5, 6, 7]) w.record(ms, ms === 1000);
    expect([w.count, w.percentile(99), w.errorRate()]).toEqual([3, 7, 0]);
  });

  it('is empty at first', () => {
    const w = new LatencyWindow();
    expect([w.percentile(50), w.errorRate()]).toEqual([undefined, 0]);
  });
});
