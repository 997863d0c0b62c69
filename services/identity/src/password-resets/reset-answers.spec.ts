import { DomainError } from '@phonegate/platform';
import { lockedReset, wrongCodeAnswer } from './reset-answers';

describe('wrongCodeAnswer', () => {
  const now = 1_700_000_000_000;
  const expires = now + 90_500;
  const answer = (count: number, max: number) => {
    const e = wrongCodeAnswer(count, max, expires, now);
    return { code: e.code, ...e.extra };
  };

  it('answers like an otp challenge with the same limit: 4, 3, 2, 1 left, then locked', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => answer(n, 5))).toEqual([
      { code: 'code_mismatch', attemptsRemaining: 4 },
      { code: 'code_mismatch', attemptsRemaining: 3 },
      { code: 'code_mismatch', attemptsRemaining: 2 },
      { code: 'code_mismatch', attemptsRemaining: 1 },
      { code: 'too_many_attempts', attemptsRemaining: 0, retryAfter: 91 },
      { code: 'too_many_attempts', attemptsRemaining: 0, retryAfter: 91 },
    ]);
  });

  it('follows the configured limit, down to one attempt', () => {
    expect(answer(1, 1)).toMatchObject({ code: 'too_many_attempts' });
    expect(answer(9, 10)).toEqual({ code: 'code_mismatch', attemptsRemaining: 1 });
  });
});

describe('lockedReset', () => {
  it('is a 429 whose Retry-After is the reset’s time left, at least a second', () => {
    const e = lockedReset(1_000, 1_000);
    expect(e).toBeInstanceOf(DomainError);
    expect(e.status).toBe(429);
    expect(e.retryAfterSeconds).toBe(1);
  });
});
