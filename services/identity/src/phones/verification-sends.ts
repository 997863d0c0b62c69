import type { ChallengeView } from '@phonegate/contracts';
import { DomainError } from '@phonegate/platform';
import { resendCooldown } from '../sessions/signin-resend';

/**
 * Codes one number's verification sends across the challenges its changes start (C9's
 * "≤ 5 sends per challenge", the otp service's OTP_MAX_SENDS default): a PUT of another
 * number starts a new challenge, and gives no more.
 */
export const PHONE_MAX_SENDS = 5;

/**
 * What identity keeps of a number's verification (Redis, per verification: the pending
 * number's id, or for a change the id of the number it replaces), so that the limits of
 * a resend (C9) go on when a PUT starts a new challenge for another number.
 */
export interface VerificationSends {
  /** The challenge the last code went out on. */
  challengeId: string;
  /** Codes sent by the verification's earlier challenges (not `challengeId`'s own). */
  sentBefore: number;
  /** Epoch ms of the last send (taken just before asking otp). */
  lastSentAt: number;
  /** otp's first cooldown, as seen on the last start (its answer's resendAvailableAt less the time it was asked). */
  baseMs: number;
  /** otp's longest cooldown, once a resend showed it (its cooldown stopped doubling). */
  capMs?: number;
}

type ChallengeState = Pick<ChallengeView, 'id' | 'status' | 'sends' | 'resendAvailableAt' | 'expiresAt'>;

/** The cooldown after a verification's `sends`-th code: the first cooldown doubled each send (30 s, 60 s, 120 s…), up to otp's longest. */
export function cooldownAfter(sends: number, baseMs: number, capMs?: number): number {
  const doubled = baseMs * 2 ** Math.max(0, sends - 1);
  return capMs === undefined ? doubled : Math.min(doubled, capMs);
}

/** Whether the verification's latest challenge still bounds the next send (pending or locked, not ended). */
function bounds(latest: ChallengeState | undefined, nowMs: number): latest is ChallengeState {
  return latest !== undefined && (latest.status === 'pending' || latest.status === 'locked') && nowMs < Date.parse(latest.expiresAt);
}

/** When the verification may send its next code: otp's cooldown of the latest challenge, or the verification's doubled one if later. */
export function nextSendAt(latest: Pick<ChallengeState, 'sends' | 'resendAvailableAt'>, record: VerificationSends | undefined): number {
  const own = Date.parse(latest.resendAvailableAt);
  if (!record) return own;
  const sent = record.sentBefore + latest.sends;
  return Math.max(own, record.lastSentAt + cooldownAfter(sent, record.baseMs, record.capMs));
}

/**
 * Before the verification sends another code (a PUT's new challenge, or a resend of its
 * challenge), the limits of a resend (C9): a challenge locked by wrong codes stays locked
 * until it ends (C7), at most `maxSends` codes until its latest challenge ends (429
 * rate_limited), none inside the cooldown (429 resend_cooldown with the honest wait).
 * Answers the codes sent so far, 0 when its latest challenge ended (approved, expired,
 * gone): the next code starts the verification afresh.
 */
export function sendsBeforeNext(
  latest: ChallengeState | undefined,
  record: VerificationSends | undefined,
  nowMs: number,
  maxSends = PHONE_MAX_SENDS,
): number {
  if (!bounds(latest, nowMs)) return 0;
  const untilEnd = Math.max(1, Math.ceil((Date.parse(latest.expiresAt) - nowMs) / 1000));
  if (latest.status === 'locked') {
    throw new DomainError('too_many_attempts', 'Too many wrong codes for this number; ask again later.', { attemptsRemaining: 0, retryAfter: untilEnd });
  }
  const sent = (record?.sentBefore ?? 0) + latest.sends;
  if (sent >= maxSends) {
    throw new DomainError('rate_limited', `At most ${maxSends} codes are sent to verify one number.`, { retryAfter: untilEnd });
  }
  const at = nextSendAt(latest, record);
  if (nowMs < at) throw resendCooldown(at - nowMs, at);
  return sent;
}

/**
 * The record as the challenge the number's row holds bounds it, when that is not the record's
 * (a code went out whose record was not kept: Redis failed the write). The row's codes count
 * after the record's, and its last send is no earlier than otp's cooldown of it shows, so the
 * next send is bounded by the stricter of the two (R1: a failed write gives no pass). The
 * record as is when the row's challenge no longer bounds a send.
 */
export function withRowChallenge(
  record: VerificationSends,
  recordLatest: ChallengeState | undefined,
  row: ChallengeState | undefined,
  nowMs: number,
): { record: VerificationSends; latest: ChallengeState } | undefined {
  if (!bounds(row, nowMs) || row.id === record.challengeId) return undefined;
  const earlier = bounds(recordLatest, nowMs) ? recordLatest.sends : 0;
  const rowSentAt = Date.parse(row.resendAvailableAt) - cooldownAfter(row.sends, record.baseMs, record.capMs);
  return {
    record: { ...record, challengeId: row.id, sentBefore: record.sentBefore + earlier, lastSentAt: Math.max(record.lastSentAt, rowSentAt) },
    latest: row,
  };
}

/** The record after a new challenge was started, `sentBefore` codes into the verification, asked at `askedAt`. */
export function afterStart(
  previous: VerificationSends | undefined,
  sentBefore: number,
  askedAt: number,
  started: Pick<ChallengeView, 'id' | 'resendAvailableAt'>,
): VerificationSends {
  const baseMs = Math.max(1, Date.parse(started.resendAvailableAt) - askedAt);
  return {
    challengeId: started.id,
    sentBefore,
    lastSentAt: askedAt,
    baseMs,
    ...(previous?.capMs !== undefined && sentBefore > 0 ? { capMs: previous.capMs } : {}),
  };
}

/**
 * The record after a resend of `resent` (asked at `askedAt`). A resend of another challenge
 * than the record's (a PUT's challenge that the row never took) counts that one's codes as
 * earlier ones. otp's cooldown growing less than doubled shows its longest cooldown.
 */
export function afterResend(
  record: VerificationSends,
  latestSends: number,
  askedAt: number,
  resent: Pick<ChallengeView, 'id' | 'sends' | 'resendAvailableAt'>,
): VerificationSends {
  const sentBefore = record.challengeId === resent.id ? record.sentBefore : record.sentBefore + latestSends;
  const seen = Date.parse(resent.resendAvailableAt) - askedAt;
  const expected = cooldownAfter(resent.sends, record.baseMs);
  const capped = seen < expected * 0.9 - 50;
  const capMs = capped ? Math.max(record.baseMs, seen) : record.capMs;
  return {
    challengeId: resent.id,
    sentBefore,
    lastSentAt: askedAt,
    baseMs: record.baseMs,
    ...(capMs !== undefined ? { capMs } : {}),
  };
}

/** The challenge as answered, its resendAvailableAt the verification's (never earlier than otp's). */
export function withVerificationCooldown<T extends Pick<ChallengeView, 'resendAvailableAt' | 'sends'>>(challenge: T, record: VerificationSends): T {
  const at = Math.max(
    Date.parse(challenge.resendAvailableAt),
    record.lastSentAt + cooldownAfter(record.sentBefore + challenge.sends, record.baseMs, record.capMs),
  );
  return { ...challenge, resendAvailableAt: new Date(at).toISOString() };
}

/**
 * A number's send history on an account, kept when a pending row leaves the number (the row
 * is removed, or corrected to another number): the verification's record as it then was, and
 * the challenge the row held (null when the record alone tells it). A later send to the same
 * number on that account (an add, a PUT) is bounded by it as by its own (C9), so removing a
 * pending number and adding it again is no fresh cooldown and no fresh 5 codes.
 */
export interface NumberSends {
  record?: VerificationSends;
  challengeId: string | null;
  /**
   * The verification whose correction moved its row away from the number and whose code is
   * going out (kept before that code is sent): an add of the number waits for its send claim,
   * since a correction whose send fails puts its row back on the number.
   */
  leaving?: string;
}

/**
 * How long a number's send history is kept after its row left it: past the longest a phone
 * challenge lives (otp's OTP_PHONE_TTL, at most 10 minutes), after which it bounds nothing.
 */
export const NUMBER_SENDS_KEPT_MS = 15 * 60_000;

/**
 * Of two refusals of one send, the one to answer: a failure that is not a refusal (a 503)
 * first, else the one with the longer wait (the send is possible only after both).
 */
export function longerRefusal(a: unknown, b: unknown): unknown {
  const wait = (e: unknown) => (e instanceof DomainError && e.status === 429 ? (e.retryAfterSeconds ?? 0) : undefined);
  const [waitA, waitB] = [wait(a), wait(b)];
  if (waitA === undefined) return a;
  if (waitB === undefined) return b;
  return waitB > waitA ? b : a;
}
