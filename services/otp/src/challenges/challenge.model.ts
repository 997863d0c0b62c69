import type { Channel, ChallengePurpose, ChallengeView } from '@phonegate/contracts';
import { maskDestination } from '@phonegate/platform';

export type ChallengeStatus = 'pending' | 'approved' | 'expired' | 'locked';
export type DeliveryOutcome = 'failed' | 'dropped';

/**
 * Who acts on a challenge: the public HTTP API, as the API key that called
 * (its id, `key_…`), or a service over the bus (identity). A challenge answers
 * only the surface, and over HTTP only the key, that started it; to anyone
 * else it does not exist (404, as an unknown id).
 */
/**
 * Who acts on a challenge: a service over the bus, or an API client over HTTP (`client`, its
 * principal id; `key`, the id of the very key it called with when that differs, i.e. the key is
 * named by its client: what that key started before it was named is its client's too).
 */
export type Caller = { via: 'http'; client: string; key?: string } | { via: 'bus' };

/**
 * A challenge as kept in Redis (one hash). Never the code: only its keyed
 * digest (`digest`, hex) and the key id (`kid`). `digest` is empty once the
 * code is dead (approved, locked, expired, reported or replaced).
 */
export interface ChallengeRecord {
  id: string;
  purpose: ChallengePurpose;
  status: ChallengeStatus;
  /** Why a challenge ended before its time (`reported`). */
  endReason?: string;
  accountId?: string;
  phoneId?: string;
  ref?: string;
  channel: Channel;
  /** Current destination: E.164 or an e-mail address; absent for "the account's e-mail". */
  destination?: string;
  /** The phone number the challenge started with (for switching back from e-mail). */
  phone?: string;
  locale?: string;
  kid: string;
  digest: string;
  createdAt: number;
  expiresAt: number;
  attemptsLeft: number;
  sends: number;
  lastSentAt: number;
  resendAt: number;
  /** Message id of the current send (to match delivery outcomes). */
  messageId: string;
  /** Pumping prefix of the phone destination, if any. */
  prefix?: string;
  delivery?: { status: DeliveryOutcome; channel: Channel; reason?: string; at: number };
  twoStep: boolean;
  reported: boolean;
  /**
   * Where the challenge was started: `bus` (identity: an account's own sign-in, step-up,
   * phone verification or reset) or `http` (a storefront's own flow, `client` = its API key id).
   * Records without the field are from before it existed and count as `bus`.
   */
  origin: Caller['via'];
  client?: string;
}

/** Whether `caller` may see and act on the challenge (the report link is checked by its own token). */
export function reachableBy(
  record: Pick<ChallengeRecord, 'origin' | 'client'>,
  caller: Caller,
): boolean {
  if (caller.via === 'bus') return record.origin === 'bus';
  return (
    record.origin === 'http' &&
    record.client !== undefined &&
    (record.client === caller.client || record.client === caller.key)
  );
}

export interface TtlPolicy {
  sign_in: number;
  phone_verification: number;
  step_up: number;
  password_reset: number;
  custom: number;
  email: number;
}

/**
 * How long a code lives (SECURITY C4): by purpose, with the longer e-mail
 * lifetime only for custom flows on e-mail (sign-in and step-up codes stay
 * short whatever the channel).
 */
export function codeTtlMs(policy: TtlPolicy, purpose: ChallengePurpose, channel: Channel): number {
  if (purpose === 'custom' && channel === 'email') return policy.email;
  return policy[purpose];
}

/**
 * Cooldown after the n-th send (1-based): base, 2×base, 4×base… capped (C9).
 */
export function resendCooldownMs(sends: number, baseMs: number, maxMs: number): number {
  const n = Math.max(1, sends);
  return Math.min(maxMs, baseMs * 2 ** (n - 1));
}

const TEMPLATES: Record<ChallengePurpose, string> = {
  sign_in: 'otp.sign_in',
  phone_verification: 'otp.phone_verification',
  step_up: 'otp.step_up',
  password_reset: 'otp.password_reset',
  custom: 'otp.verification',
};

/** The notifier's template for a code of this purpose (the notifier owns the text). */
export function templateFor(purpose: ChallengePurpose): string {
  return TEMPLATES[purpose];
}

/** Two-step purposes: line-type rules (VoIP, premium rate) apply to these by default. */
export function isTwoStep(purpose: ChallengePurpose, explicit?: boolean): boolean {
  return explicit ?? (purpose === 'sign_in' || purpose === 'step_up');
}

type ChannelFacts = Pick<
  ChallengeRecord,
  'channel' | 'accountId' | 'phone' | 'destination' | 'origin' | 'purpose'
>;

/**
 * Whether the challenge's code may go to its account's e-mail address (no `to`: the notifier
 * resolves it). Identity's own challenges (over the bus) may; so may a storefront's `custom`
 * flow, its caller's own. A storefront's other verifications go only to the destinations their
 * caller gave: otp does not move its phone verification or sign-in onto an address it never saw.
 */
export function mayUseAccountEmail(
  record: Pick<ChallengeRecord, 'accountId' | 'origin' | 'purpose'>,
): boolean {
  return (
    record.accountId !== undefined && (record.origin !== 'http' || record.purpose === 'custom')
  );
}

/**
 * Channels a challenge could switch to, in the configured order, after the
 * current one. E-mail needs an address or, where it may use it, the account's
 * (the notifier resolves it); phone channels need a number.
 */
export function alternativesOf(record: ChannelFacts, order: readonly Channel[]): Channel[] {
  const email = mayUseAccountEmail(record) || (record.destination?.includes('@') ?? false);
  const phone = record.phone !== undefined;
  return order.filter((c) => c !== record.channel && (c === 'email' ? email : phone));
}

/** The next channel after the current one in the configured order, if any. */
export function nextChannel(record: ChannelFacts, order: readonly Channel[]): Channel | undefined {
  const at = order.indexOf(record.channel);
  const later = at < 0 ? order : order.slice(at + 1);
  const possible = alternativesOf(record, order);
  return later.find((c) => possible.includes(c));
}

/** The status as the world sees it: a pending challenge past its expiry is expired (checked in code, C4). */
export function effectiveStatus(
  record: Pick<ChallengeRecord, 'status' | 'expiresAt'>,
  nowMs: number,
): ChallengeStatus {
  if (record.status === 'pending' && nowMs >= record.expiresAt) return 'expired';
  return record.status;
}

export function maskedDestination(record: Pick<ChallengeRecord, 'destination'>): string {
  return record.destination ? maskDestination(record.destination) : 'account e-mail';
}

export type ChallengeViewOut = ChallengeView;

/** The public view of a challenge: masked destination, no digest, no key id. */
export function toView(
  record: ChallengeRecord,
  nowMs: number,
  order: readonly Channel[],
): ChallengeViewOut {
  const status = effectiveStatus(record, nowMs);
  const view: ChallengeViewOut = {
    id: record.id,
    status,
    purpose: record.purpose,
    channel: record.channel,
    to: maskedDestination(record),
    expiresAt: new Date(record.expiresAt).toISOString(),
    resendAvailableAt: new Date(record.resendAt).toISOString(),
    attemptsRemaining: record.attemptsLeft,
    sends: record.sends,
  };
  if (status === 'pending') view.alternatives = alternativesOf(record, order);
  if (record.delivery) {
    view.delivery = {
      status: record.delivery.status,
      channel: record.delivery.channel,
      ...(record.delivery.reason ? { reason: record.delivery.reason } : {}),
      at: new Date(record.delivery.at).toISOString(),
    };
  }
  if (record.endReason) view.endReason = record.endReason;
  if (record.reported) view.reported = true;
  return view;
}
