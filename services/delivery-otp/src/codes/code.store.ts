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
  /**
   * An unlock changed this code and is not settled: its transaction has not
   * committed yet, or failed and its revert (which brings the lock back) has
   * not run yet (or a crash left it so). Absent once it committed.
   */
  unlockPending?: true;
}

/**
 * What a shipment's next code inherits from its last one (SECURITY C5, C9): a
 * re-issue, even after a cancel, is no way out of a lock or the regeneration
 * cap. Only the customer's regenerate or a support unlock resets the attempts
 * and the lock.
 */
export interface HandoffCarry {
  attempts: number;
  locked: boolean;
  regenerations: number;
  /** When the last code was sent (0: never): the regenerate cooldown runs from it. */
  lastSentMs: number;
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
  /** Used when the store holds no code for the shipment (else the replaced code's carry over); absent: nothing carried. */
  carry?: HandoffCarry;
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
  | {
      verdict: 'already';
      attemptsRemaining: number;
      generation: number;
      byDeviceId: string;
      attemptId: string;
      /** The approved request's device time (`at`), when the store kept it. */
      atMs?: number;
    };

export type RegenerateResult =
  | { verdict: 'ok'; generation: number; regenerations: number; replaced: ReplacedCode }
  | { verdict: 'not_found' | 'already' }
  | { verdict: 'cooldown' | 'limit'; retryAfterMs: number };

/**
 * What a put or a regenerate replaced, opaque to callers: handed back to
 * restore() if its transaction did not commit. Empty when there was no code.
 */
export interface ReplacedCode {
  readonly fields: readonly string[];
}

/** The code a put or a regenerate wrote, as an undo names it: its generation and HMAC (unique to that code). */
export interface IssuedCode {
  generation: number;
  hmac: string;
}

/**
 * What the shipment's row names for its code: a regenerate writes these, with
 * the next generation after the row's `generation`.
 */
export type CodeOwner = Pick<NewCode, 'accountId' | 'courierId' | 'windowStartMs' | 'windowEndMs' | 'expiresAtMs' | 'generation'>;

/**
 * A put's outcome: stored (in `state`: a re-issue keeps a lock and the spent
 * attempts), or refused because the shipment was handed off meanwhile.
 */
export type PutResult = { verdict: 'ok'; state: 'awaiting_handoff' | 'locked'; replaced: ReplacedCode } | { verdict: 'already' };

/**
 * A revoke, reschedule or unlock as the store applied it, opaque to callers:
 * handed back to revert() if its transaction did not commit. `kind` and
 * `token` name the change; the rest is what it replaced.
 */
export interface AppliedChange {
  readonly kind: 'revoke' | 'reschedule' | 'unlock';
  readonly token: string;
  readonly generation: string;
  readonly hmac: string;
  readonly fields: readonly string[];
}

/**
 * `stale`: a reschedule refused because the store holds no usable code, or not the one `expect` names.
 * `ok` names the change (for revert()).
 */
export type UpdateResult = { verdict: 'ok'; state: string; change: AppliedChange } | { verdict: 'not_found' | 'already' | 'stale' };

/** A revoke's outcome: what the revoked code leaves for the shipment's next one, and the change (for revert()). */
export type RevokeResult = { verdict: 'ok'; carry: HandoffCarry; change: AppliedChange } | { verdict: 'not_found' | 'already' };

export interface Reschedule {
  windowStartMs: number;
  windowEndMs: number;
  expiresAtMs: number;
  courierId?: string;
  /** The account and generation the shipment's row names: any other code in the store is not kept ('stale'). */
  expect?: { accountId: string; generation: number };
  /**
   * The window and courier the shipment's row holds (read under its lock):
   * what revert() puts back. Absent: the store's own.
   */
  previous?: { windowStartMs: number; windowEndMs: number; expiresAtMs: number; courierId: string };
}

/**
 * The spent attempts and lock the shipment's row holds (read under its lock):
 * an unlock's revert() brings back the larger of these and the store's.
 */
export interface RowHandoffState {
  attempts: number;
  locked: boolean;
}

/**
 * What the store holds for a shipment whose code a read found missing:
 * `code` (one is there again: an undo brought it back, or a new one was
 * issued), `revoking` (a revoke's marker: a cancel that took the code has not
 * committed, or failed and its revert may still bring the code back), or
 * `none` (the code is lost: Redis restarted or failed over without it, or
 * evicted it).
 */
export type CodePresence = 'code' | 'revoking' | 'none';

export abstract class CodeStore {
  /**
   * Stores a new code in place of the shipment's current one, keeping its
   * attempts, lock and regeneration count (or, when there is none, those of
   * `code.carry`); refused ('already') once handed off.
   */
  abstract put(code: NewCode): Promise<PutResult>;
  /**
   * Undoes a put or regenerate of `issued` whose transaction did not commit
   * (the caller checked the row): what it replaced comes back, keeping the
   * larger attempt count and a lock, unless the store no longer holds that
   * very code (replaced, revoked or handed off). True when restored.
   */
  abstract restore(shipmentId: string, issued: IssuedCode, replaced: ReplacedCode): Promise<boolean>;
  /**
   * Makes `issued` unusable and unreadable (when it may not have committed
   * and what it replaced is unknown), keeping attempts, lock and
   * regenerations; a handoff then answers locked. Same guard as restore().
   */
  abstract withdraw(shipmentId: string, issued: IssuedCode): Promise<boolean>;
  abstract get(shipmentId: string): Promise<LiveCode | undefined>;
  /**
   * Whether the shipment's code, or a revoke's marker, is there, in one
   * atomic read. A store that does not answer throws (503), never `none`:
   * only an answer tells that a code is lost.
   */
  abstract presence(shipmentId: string): Promise<CodePresence>;
  /**
   * Drops a stale copy of the shipment's code hash (one of a generation the
   * row no longer names, or of a shipment the row holds locked or cancelled:
   * Redis went back in time), only while the store still holds that copy:
   * of `generation` and, with `attemptId`, the tombstone of that approval.
   * The caller holds the shipment's lock. True when dropped.
   */
  abstract discard(shipmentId: string, copy: { generation: number; attemptId?: string }): Promise<boolean>;
  abstract check(input: CheckInput): Promise<CheckResult>;
  abstract regenerate(
    shipmentId: string,
    next: { nowMs: number; cooldownMs: number; maxRegenerations: number; sealed: string; hmacKeyId: string; hmac: string; owner: CodeOwner },
  ): Promise<RegenerateResult>;
  abstract reschedule(shipmentId: string, change: Reschedule): Promise<UpdateResult>;
  abstract unlock(shipmentId: string, row?: RowHandoffState): Promise<UpdateResult>;
  /**
   * Deletes the code at once, answering its spent attempts, lock and
   * regenerations for the next code (attempts and lock: the larger of the
   * code's and `row`'s; a revert brings those back, with the row's window and
   * courier). Finding no code, it also voids any earlier revoke's revert (a
   * cancel may commit on what it saw).
   */
  abstract revoke(shipmentId: string, row?: RowHandoffState & { window: NonNullable<Reschedule['previous']> }): Promise<RevokeResult>;
  /**
   * Undoes a revoke, reschedule or unlock whose transaction did not commit,
   * only while the store still shows that very change (nothing issued,
   * revoked, changed or handed off since). `restore` puts back what it
   * replaced (an unlock's lock comes back with every attempt spent before
   * and since it); `withdraw` (a revoke whose commit is unknown) brings back
   * the revoked code's attempts, lock and regenerations but not the code,
   * as withdraw() does. True when changed.
   */
  abstract revert(shipmentId: string, change: AppliedChange, mode: 'restore' | 'withdraw'): Promise<boolean>;
  /**
   * The change's transaction committed: its token is dropped (if the store
   * still holds it), so the code shows no pending change; a revert() of it is
   * refused from then on. True when dropped.
   */
  abstract settle(shipmentId: string, change: AppliedChange): Promise<boolean>;
}
