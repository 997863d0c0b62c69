import type { ChallengeView } from '@phonegate/contracts';
import { DomainError, maskPhone } from '@phonegate/platform';
import type { OtpGateway } from './otp.gateway';

/**
 * A challenge the otp service no longer knows is answered like an expired
 * one, so "unknown" and "expired" look alike to the caller.
 */
export async function unknownAsExpired<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof DomainError && error.code === 'not_found') {
      throw new DomainError('code_expired', 'This code has expired; ask for a new one.');
    }
    throw error;
  }
}

export function isDomain(error: unknown, ...codes: string[]): error is DomainError {
  return error instanceof DomainError && codes.includes(error.code);
}

/** The challenge as otp has it now; undefined once otp no longer knows it (or it expired). */
export async function challengeIfKnown(
  otp: Pick<OtpGateway, 'get'>,
  challengeId: string,
): Promise<ChallengeView | undefined> {
  try {
    return await otp.get(challengeId);
  } catch (error) {
    if (isDomain(error, 'not_found', 'code_expired')) return undefined;
    throw error;
  }
}

/** The verification part of a 202 answer (destination masked). */
export function verificationView(c: ChallengeView) {
  return {
    challengeId: c.id,
    channel: c.channel,
    to: c.to.includes('•') || c.to.includes('@') ? c.to : maskPhone(c.to),
    expiresAt: c.expiresAt,
    resendAvailableAt: c.resendAvailableAt,
  };
}

/**
 * Whether an otp call that sends a code failed without an answer: a 503 that came only when
 * its deadline passed (otp may have sent the code). Any other failure was an answer (otp's
 * refusal or its own 503, a bus with nobody serving) or came before otp was asked: nothing
 * was sent by it.
 */
export function unansweredSend(error: unknown, elapsedMs: number, timeoutMs: number): boolean {
  return isDomain(error, 'service_unavailable') && elapsedMs >= timeoutMs - 50;
}
