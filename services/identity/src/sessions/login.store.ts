import type { SigninFactor } from '../two-step/two-step.policy';

/** A challenged sign-in waiting for its code (Redis, IDENTITY_LOGIN_TTL). */
export interface PendingLogin {
  accountId: string;
  device: { id: string; name?: string; userAgent?: string };
  ip: string;
  country: string | null;
  reason: 'new_device' | 'new_location';
  factors: SigninFactor[];
  factor: SigninFactor;
  challengeId: string | null;
  /**
   * The verified number (phone id) the challenge was started to, the number its
   * phone resends reach; null when it was started to the e-mail or there is none.
   * Absent in logins stored before it was kept.
   */
  challengePhoneId?: string | null;
  /**
   * Codes sent by the login's earlier challenges (those its resends replaced with a
   * new one after the number changed): C9's send count goes on across them.
   */
  sentBefore?: number;
  /**
   * The sign-in's cooldown across its challenges (C9: it keeps doubling when a resend
   * starts a new challenge), kept once a resend did: epoch ms of the last send, otp's
   * first cooldown as seen on that start, and its longest once a resend showed it.
   * The same fields as a verification's record of sends (phones/verification-sends).
   */
  lastSentAt?: number;
  baseMs?: number;
  capMs?: number;
  /**
   * The challenges the login's resends replaced with a new one (its number changed), so a
   * report of one of their codes still ends the sign-in.
   */
  earlierChallengeIds?: string[];
  /** Epoch ms the sign-in started (its password checked). Absent in logins stored before it was kept. */
  startedAt?: number;
  /**
   * The account's credentials epoch (`sessionsValidAfter`, epoch ms, null when never reset)
   * as read with the password hash the sign-in's password was checked against. Absent in
   * logins stored before it was kept (their `startedAt` is compared instead).
   */
  validAfter?: number | null;
  /** Epoch ms. */
  expiresAt: number;
}

/** The credentials epoch of an account's `sessionsValidAfter`: epoch ms, null while never reset. */
export function credentialsEpoch(sessionsValidAfter: Date | null): number | null {
  return sessionsValidAfter ? sessionsValidAfter.getTime() : null;
}

/**
 * Whether the account's credentials changed (a password reset: `sessionsValidAfter`)
 * since the sign-in's password was checked, so that it can no longer finish: it was
 * checked against the old password. A login that kept the epoch it was checked at is
 * outdated by any other; one stored before then by a reset at or after its start, and
 * one stored without a start started a login TTL before its expiry.
 */
export function outdatedBy(
  login: Pick<PendingLogin, 'startedAt' | 'expiresAt' | 'validAfter'>,
  sessionsValidAfter: Date | null,
  loginTtlMs: number,
): boolean {
  if (login.validAfter !== undefined) return credentialsEpoch(sessionsValidAfter) !== login.validAfter;
  if (!sessionsValidAfter) return false;
  const startedAt = login.startedAt ?? login.expiresAt - loginTtlMs;
  return startedAt <= sessionsValidAfter.getTime();
}
