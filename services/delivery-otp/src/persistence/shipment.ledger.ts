import type { EventContract, EventData } from '@phonegate/contracts';
import { DomainError } from '@phonegate/platform';
import type { AttemptOutcome } from './handoff-attempt.entity';
import type { ShipmentStatus } from './shipment.entity';

export interface ShipmentRecord {
  id: string;
  orderId: string;
  accountId: string;
  merchantId: string | null;
  courierId: string;
  phone: string | null;
  email: string | null;
  locale: string;
  windowStart: Date;
  windowEnd: Date;
  expiresAt: Date;
  status: ShipmentStatus;
  codeGeneration: number;
  handedOffAt: Date | null;
  handedOffDeviceId: string | null;
  /**
   * What the shipment's next code inherits from its last one (SECURITY C5,
   * C9), kept here because a cancel deletes the code from Redis and Redis may
   * lose it: the handoff's spent attempts and lock as of the last failed
   * attempt, cancel, unlock or regenerate (so a code that expires or is lost
   * without a cancel leaves them too), the regenerations so far and when the
   * last code was sent. While a code lives, Redis decides on its values.
   */
  handoffAttempts: number;
  handoffLocked: boolean;
  regenerations: number;
  lastCodeSentAt: Date | null;
}

export interface AttemptRecord {
  id: string;
  shipmentId: string;
  courierId: string;
  deviceId: string;
  outcome: AttemptOutcome;
  reason: string | null;
  codeGeneration: number;
  attemptsRemaining: number | null;
  deviceAt: Date;
  receivedAt: Date;
  location: { lat: number; lng: number } | null;
  requestId: string | null;
}

/** A code's spent attempts and lock, as the store counted them after a wrong code. */
export interface HandoffState {
  shipmentId: string;
  generation: number;
  attempts: number;
  locked: boolean;
}

/** What mirrorHandoffState read of the shipment's row. */
export interface MirroredRow {
  generation: number;
  status: ShipmentStatus;
  windowEnd: Date;
}

/** One unit of work on a shipment: rows and outbox events commit together. */
export interface ShipmentTx {
  /** The shipment as of the start of the transaction (undefined when not loaded). */
  readonly shipment: ShipmentRecord | undefined;
  /**
   * Inserts or replaces the shipment. A handed-off shipment is final: it is
   * never replaced (DomainError `already_handed_off`, the transaction rolls
   * back), even if it was handed off after this unit of work read it.
   */
  save(record: ShipmentRecord): Promise<void>;
  /**
   * Inserts an attempt. With `unlessRecorded`, first checks whether its id is
   * already recorded and then returns false (the repair of a handoff whose
   * record did not commit); fresh attempt ids need no check.
   */
  recordAttempt(attempt: AttemptRecord, options?: { unlessRecorded?: boolean }): Promise<boolean>;
  /** Whether an attempt of this id is recorded (read in this transaction: no second connection while it holds the lock). */
  hasAttempt(attemptId: string): Promise<boolean>;
  /**
   * Records a confirmed handoff: inserts `attempt` (as recordAttempt, same
   * `unlessRecorded`) and marks its shipment handed off by the attempt's
   * device at its device time. False when the attempt was already recorded;
   * else the shipment as updated (undefined if there is no such shipment).
   */
  recordHandoff(attempt: AttemptRecord, options?: { unlessRecorded?: boolean }): Promise<false | { shipment: ShipmentRecord | undefined }>;
  /**
   * Mirrors on the shipment's row the spent attempts and lock the store
   * counted for its code of `generation` after a wrong code, so they outlive
   * the code's expiry or the loss of Redis (SECURITY C5). Never lowers what
   * the row holds for that code (failed attempts may commit out of order);
   * nothing changes when the row names another generation (a regenerate or
   * issue replaced the code meanwhile) or is not awaiting a handoff.
   * Answers the row's code generation, status and window end as they were
   * (in the same statement; undefined without a row), so the caller can tell
   * a check against an older copy of the code than the row names.
   */
  mirrorHandoffState(state: HandoffState): Promise<MirroredRow | undefined>;
  publish<C extends EventContract>(contract: C, data: EventData<C>): Promise<void>;
}

/** What save() throws for a shipment already handed off. */
export function alreadyHandedOff(): DomainError {
  return new DomainError('already_handed_off', 'This shipment was already handed off.', {}, false);
}

/** The port to PostgreSQL for shipments and handoff records. */
export abstract class ShipmentLedger {
  abstract find(shipmentId: string): Promise<ShipmentRecord | undefined>;
  abstract hasAttempt(attemptId: string): Promise<boolean>;
  /**
   * Runs `work` in one transaction. With `lock`, concurrent units of work on
   * the same shipment run one after the other (issue, regenerate, reschedule,
   * cancel, unlock, the record of a confirmed handoff and of a wrong code,
   * which writes the row, take it; refusals, which only append, need not). `load: false` skips reading the shipment when the
   * work does not need it.
   */
  abstract transaction<T>(shipmentId: string, options: { lock: boolean; load?: boolean }, work: (tx: ShipmentTx) => Promise<T>): Promise<T>;
}
