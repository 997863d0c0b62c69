import type { ChallengeView } from '@phonegate/contracts';
import { DomainError } from '@phonegate/platform';
import { nextSendAt, type VerificationSends } from '../phones/verification-sends';
import type { SigninFactor } from '../two-step/two-step.policy';
import type { PendingLogin } from './login.store';

/**
 * Codes one sign-in sends across the challenges its resends start (C9's "5 sends per
 * challenge", the otp service's OTP_MAX_SENDS default): a number change gives no more.
 */
export const SIGNIN_MAX_SENDS = 5;

/** How a sign-in's resend reaches its channel: the login's challenge again, or a new challenge. */
export type ResendPlan =
  /**
   * Resend the challenge; `to` for the e-mail (a phone resend keeps the challenge's own
   * number), or the primary number for a login that does not know its challenge's number:
   * then `orStart`, a new challenge when otp refuses that number as not the challenge's.
   */
  { kind: 'resend'; challengeId: string; to?: string; orStart?: true } | { kind: 'start' };

/**
 * A sign-in's code goes to the account's primary number as it is now (or its e-mail).
 * The otp service resends a challenge only to the number it was started to: while
 * that is still the primary number, the challenge is resent without a destination;
 * once the number was changed (or another made primary, or the challenge was started
 * to the e-mail) a phone channel needs a new challenge to the primary number, never
 * a resend naming another number (the otp service refuses that with 422) nor one to
 * a replaced number. The e-mail is named on every e-mail resend (its address may be
 * new to the challenge). A login stored before it kept its challenge's number resends
 * the challenge naming the primary number, so otp's cooldown and send count still
 * apply, and starts a new one only when otp refuses that number (422).
 */
export function signinResendPlan(
  login: Pick<PendingLogin, 'challengeId' | 'challengePhoneId'>,
  target: Extract<SigninFactor, 'sms' | 'voice' | 'email'>,
  destination: { email: string; primaryPhoneId: string | undefined; primaryNumber?: string },
): ResendPlan {
  if (!login.challengeId) return { kind: 'start' };
  if (target === 'email')
    return { kind: 'resend', challengeId: login.challengeId, to: destination.email };
  if (login.challengePhoneId === undefined) {
    return destination.primaryNumber
      ? {
          kind: 'resend',
          challengeId: login.challengeId,
          to: destination.primaryNumber,
          orStart: true,
        }
      : { kind: 'start' };
  }
  const samePhone =
    destination.primaryPhoneId !== undefined &&
    login.challengePhoneId === destination.primaryPhoneId;
  return samePhone ? { kind: 'resend', challengeId: login.challengeId } : { kind: 'start' };
}

/** Whether otp refused a resend's destination as not the challenge's own (422 on `to`). */
export function refusedDestination(error: unknown): boolean {
  if (!(error instanceof DomainError) || error.code !== 'validation_failed') return false;
  const errors = error.extra['errors'];
  return Array.isArray(errors) && errors.some((e) => (e as { field?: unknown }).field === 'to');
}

/** What a login keeps of its sends across its challenges. */
type LoginSends = Partial<Pick<PendingLogin, 'challengeId' | 'sentBefore' | 'lastSentAt' | 'baseMs' | 'capMs'>>;

/**
 * The sign-in's sends as a verification's record (the same doubling cooldown across its
 * challenges, C9), once a resend started a new challenge; undefined before (otp's own
 * cooldown of the login's one challenge is then the sign-in's).
 */
export function loginSends(login: LoginSends): VerificationSends | undefined {
  if (!login.challengeId || login.lastSentAt === undefined || login.baseMs === undefined) return undefined;
  return {
    challengeId: login.challengeId,
    sentBefore: login.sentBefore ?? 0,
    lastSentAt: login.lastSentAt,
    baseMs: login.baseMs,
    ...(login.capMs !== undefined ? { capMs: login.capMs } : {}),
  };
}

/**
 * Before a resend starts a new challenge in place of the login's current one (its
 * number changed), the current one's limits carry over, as if it were resent (C9):
 * its cooldown is waited out (429 resend_cooldown: the sign-in's, doubling across its
 * challenges, or otp's of the challenge if later), the login's sends across its
 * challenges stay within `maxSends` (429 rate_limited until the sign-in ends), and a
 * challenge locked by wrong codes stays locked (C7). Answers the login's sends so far
 * (earlier challenges and the current one), or throws the refusal.
 */
export function sendsBeforeRestart(
  current: Pick<ChallengeView, 'status' | 'sends' | 'resendAvailableAt'> | undefined,
  login: LoginSends & Pick<PendingLogin, 'expiresAt'>,
  nowMs: number,
  maxSends: number,
): number {
  const sent = (login.sentBefore ?? 0) + (current?.sends ?? 0);
  const untilLoginEnds = Math.max(1, Math.ceil((login.expiresAt - nowMs) / 1000));
  if (current?.status === 'locked') {
    throw new DomainError(
      'too_many_attempts',
      'Too many wrong codes for this sign-in; sign in again later.',
      {
        attemptsRemaining: 0,
        retryAfter: untilLoginEnds,
      },
    );
  }
  if (sent >= maxSends) {
    throw new DomainError('rate_limited', `At most ${maxSends} codes are sent for one sign-in.`, {
      retryAfter: untilLoginEnds,
    });
  }
  const resendAt = current?.status === 'pending' ? nextSendAt(current, loginSends(login)) : NaN;
  if (nowMs < resendAt) throw resendCooldown(resendAt - nowMs, resendAt);
  return sent;
}

/** 429 resend_cooldown as otp answers a resend inside its cooldown. */
export function resendCooldown(waitMs: number, resendAtMs: number): DomainError {
  return new DomainError('resend_cooldown', 'A new code can be sent a little later.', {
    retryAfter: Math.max(1, Math.ceil(waitMs / 1000)),
    resendAvailableAt: new Date(resendAtMs).toISOString(),
  });
}
