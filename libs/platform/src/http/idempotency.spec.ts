import { remainingWait } from './idempotency';

describe('remainingWait (a replayed Retry-After)', () => {
  const givenAt = Date.UTC(2026, 11, 8, 1, 0, 0);

  it('is what remains of the wait, rounded up', () => {
    expect(remainingWait('30', givenAt, givenAt)).toBe('30');
    expect(remainingWait('30', givenAt, givenAt + 1_100)).toBe('29');
    expect(remainingWait('30', givenAt, givenAt + 29_001)).toBe('1');
  });

  it('is at least 1 once the wait is over (the replay does not change)', () => {
    expect(remainingWait('30', givenAt, givenAt + 30_000)).toBe('1');
    expect(remainingWait('30', givenAt, givenAt + 3_600_000)).toBe('1');
  });

  it('keeps an HTTP date, or a value kept without its time, as it was', () => {
    const date = 'Tue, 08 Dec 2026 01:00:30 GMT';
    expect(remainingWait(date, givenAt, givenAt + 5_000)).toBe(date);
    expect(remainingWait('30', undefined, givenAt + 5_000)).toBe('30');
  });
});
