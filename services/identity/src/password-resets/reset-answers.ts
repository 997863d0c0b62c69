import { DomainError } from '@phonegate/platform';

/**
 * 429 too_many_attempts for a locked reset, real or decoy, with the same
 * Retry-After: the time left until the reset itself ends (after which a new
 * one is the only way). The otp service's own Retry-After follows its
 * challenge's life, which differs by channel (e-mail codes live longer), so
 * a real reset's lock is answered with this one too.
 */
export function lockedReset(codeExpiresAt: number, nowMs: number): DomainError {
  return new DomainError(
    'too_many_attempts',
    'Too many wrong codes; this verification is locked. Start a new one.',
    { attemptsRemaining: 0, retryAfter: Math.max(1, Math.ceil((codeExpiresAt - nowMs) / 1000)) },
  );
}

/**
 * The answer to the `count`-th wrong code on a reset whose code the otp
 * service does not check (a decoy, or one whose code was never sent), as the
 * otp service answers a real challenge with `maxAttempts` (C7):
 * `attemptsRemaining` maxAttempts−1 … 1, then locked.
 */
export function wrongCodeAnswer(
  count: number,
  maxAttempts: number,
  codeExpiresAt: number,
  nowMs: number,
): DomainError {
  if (count >= maxAttempts) return lockedReset(codeExpiresAt, nowMs);
  return new DomainError('code_mismatch', 'That code is not right.', {
    attemptsRemaining: maxAttempts - count,
  });
}
