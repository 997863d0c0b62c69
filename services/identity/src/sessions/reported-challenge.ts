import type { ChallengeView } from '@phonegate/contracts';

/**
 * Whether the owner reported the challenge's code ("I didn't ask for this"): a report that ended
 * it (endReason `reported`), or one that came after it had already ended (expired, locked), which
 * otp marks `reported` and leaves the end reason alone.
 */
export function reported(challenge: Pick<ChallengeView, 'endReason' | 'reported'> | undefined): boolean {
  return challenge?.endReason === 'reported' || challenge?.reported === true;
}
