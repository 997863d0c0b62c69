import { DomainError } from '@phonegate/platform';
import { failureCount } from './code-accounting';

describe('failureCount', () => {
  const challenge = '3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b10';

  it('counts every wrong code that was compared', () => {
    expect(
      failureCount(new DomainError('code_mismatch', 'no', { attemptsRemaining: 3 }), challenge),
    ).toBe('counts');
    expect(
      failureCount(new DomainError('code_mismatch', 'no', { attemptsRemaining: 3 }), undefined),
    ).toBe('counts');
  });

  it('counts a challenge lock once, and a too_many_attempts without a challenge (a rate limit) not at all', () => {
    expect(
      failureCount(
        new DomainError('too_many_attempts', 'locked', { attemptsRemaining: 0 }),
        challenge,
      ),
    ).toBe('once');
    expect(
      failureCount(
        new DomainError('too_many_attempts', 'wait', { attemptsRemaining: 0 }),
        undefined,
      ),
    ).toBe('none');
  });

  it('does not count what compared no code', () => {
    for (const code of [
      'code_expired',
      'account_locked',
      'rate_limited',
      'service_unavailable',
      'not_found',
    ] as const) {
      expect(failureCount(new DomainError(code, 'x'), challenge)).toBe('none');
    }
    expect(failureCount(new Error('boom'), challenge)).toBe('none');
  });
});
