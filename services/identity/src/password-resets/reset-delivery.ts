import { DomainError } from '@phonegate/platform';

export interface SendPolicy {
  /** Tries in all (IDENTITY_RESET_SEND_ATTEMPTS). */
  attempts: number;
  /** Wait before the second try, doubled before each next one (IDENTITY_RESET_SEND_RETRY). */
  retryMs: number;
}

/**
 * How long a sender holds a reset's send: two otp deadlines and a second, so
 * a send in progress (its lookups and the otp request) ends before anyone
 * else may take it, and one whose process stopped is taken again soon after.
 */
export function sendLeaseMs(otpTimeoutMs: number): number {
  return 2 * otpTimeoutMs + 1_000;
}

/**
 * What follows a failed try. The otp service unreachable or slow
 * (service_unavailable), or anything not a domain answer (a database or
 * Redis error): try again later, with a doubling wait, while tries remain.
 * A domain answer of the otp service (a number it refuses, a send limit) will
 * not change by trying again: give up at once.
 */
export function afterSendFailure(
  error: unknown,
  attempt: number,
  policy: SendPolicy,
): { retryInMs: number } | { giveUp: string } {
  const transient = !(error instanceof DomainError) || error.code === 'service_unavailable';
  if (!transient) return { giveUp: error.code };
  if (attempt >= policy.attempts) return { giveUp: 'attempts_exhausted' };
  return { retryInMs: policy.retryMs * 2 ** (attempt - 1) };
}
