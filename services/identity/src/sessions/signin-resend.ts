import type { SigninFactor } from '../two-step/two-step.policy';
import type { PendingLogin } from './login.store';

/** How a sign-in's resend reaches its channel: the login's challenge again, or a new challenge. */
export type ResendPlan =
  /** Resend the challenge; `to` only for the e-mail (a phone resend keeps the challenge's own number). */
  { kind: 'resend'; challengeId: string; to?: string } | { kind: 'start' };

/**
 * A sign-in's code goes to the account's primary number as it is now (or its e-mail).
 * The otp service resends a challenge only to the number it was started to: while
 * that is still the primary number, the challenge is resent without a destination;
 * once the number was changed (or another made primary, or the challenge was started
 * to the e-mail) a phone channel needs a new challenge to the primary number, never
 * a resend naming another number (the otp service refuses that with 422) nor one to
 * a replaced number. The e-mail is named on every e-mail resend (its address may be
 * new to the challenge).
 */
export function signinResendPlan(
  login: Pick<PendingLogin, 'challengeId' | 'challengePhoneId'>,
  target: Extract<SigninFactor, 'sms' | 'voice' | 'email'>,
  destination: { email: string; primaryPhoneId: string | undefined },
): ResendPlan {
  if (!login.challengeId) return { kind: 'start' };
  if (target === 'email')
    return { kind: 'resend', challengeId: login.challengeId, to: destination.email };
  const samePhone =
    destination.primaryPhoneId !== undefined &&
    login.challengePhoneId === destination.primaryPhoneId;
  return samePhone ? { kind: 'resend', challengeId: login.challengeId } : { kind: 'start' };
}
