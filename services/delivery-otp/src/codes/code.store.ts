/**
 * The port to the live-code store (Redis in production). Everything a handoff
 * decides is decided inside one atomic step of the store.
 */
export type LiveState = 'awaiting_handoff' | 'locked' | 'handed_off';

export interface LiveCode {
  shipmentId: string;
  state: LiveState;
  accountId: string;
  courierId: string;
  windowStartMs: number;
  windowEndMs: number;
  expiresAtMs: number;
  attempts: number;
  generation: number;
  /** Absent once handed off (single use). */
  sealed?: string;
}

export interface NewCode {
  shipmentId: string;
  accountId: string;
  courierId: string;
  windowStartMs: number;
  windowEndMs: number;
  expiresAtMs: number;
  generation: number;
  sealed: string;
  hmacKeyId: string;
  hmac: string;
}

export interface CheckInput {
  shipmentId: string;
  courierId: string;
  deviceId: string;
  nowMs: number;
  atMs: number;
  toleranceMs: number;
  maxAttempts: number;
  attemptId: string;
  /** `[kid, digest, kid, digest, ...]` of the submitted code. */
  candidates: string[];
}

export type CheckResult =
  | { verdict: 'ok' | 'mismatch' | 'locked_now' | 'locked' | 'not_assigned' | 'not_found' | 'key_unavailable'; attemptsRemaining: number; generation: number }
  | { verdict: 'window_closed'; attemptsRemaining: number; generation: number; reason: 'expired' | 'device_clock_ahead' | 'outside_window' }
  | { verdict: 'already'; attemptsRemaining: number; generation: number; byDeviceId: string; attemptId: string };

export type RegenerateResult =
  | { verdict: 'ok'; generation: number }
  | { verdict: 'not_found' | 'already' }
  | { verdict: 'cooldown' | 'limit'; retryAfterMs: number };

/**
 * What a put replaced, opaque to callers: handed back to restore() if the
 * put's transaction fails. Empty when the shipment had no code.
 */
export interface ReplacedCode {
  readonly fields: readonly string[];
}

/**
 * A put's outcome: stored (in `state`: a re-issue keeps a lock and the spent
 * attempts), or refused because the shipment was handed off meanwhile.
 */
export type PutResult = { verdict: 'ok'; state: 'awaiting_handoff' | 'locked'; replaced: ReplacedCode } | { verdict: 'already' };

export type UpdateResult = { verdict: 'ok'; state: string } | { verdict: 'not_found' | 'already' };

export interface Reschedule {
  windowStartMs: number;
  windowEndMs: number;
  expiresAtMs: number;
  courierId?: string;
}

export abstract class CodeStore {
  /**
   * Stores a new code in place of the shipment's current one, keeping its
   * attempts, lock and regeneration count; refused ('already') once handed off.
   */
  abstract put(code: NewCode): Promise<PutResult>;
  /**
   * Undoes a put of `generation` whose transaction failed: what it replaced
   * comes back, unless that code has since been replaced, revoked or handed off.
   */
  abstract restore(shipmentId: string, replaced: ReplacedCode, generation: number): Promise<void>;
  abstract get(shipmentId: string): Promise<LiveCode | undefined>;
  abstract check(input: CheckInput): Promise<CheckResult>;
  abstract regenerate(
    shipmentId: string,
    next: { nowMs: number; cooldownMs: number; maxRegenerations: number; sealed: string; hmacKeyId: string; hmac: string },
  ): Promise<RegenerateResult>;
  abstract reschedule(shipmentId: string, change: Reschedule): Promise<UpdateResult>;
  abstract unlock(shipmentId: string): Promise<UpdateResult>;
  abstract revoke(shipmentId: string): Promise<UpdateResult>;
}
