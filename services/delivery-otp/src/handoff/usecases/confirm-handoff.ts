import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import {
  handoffConfirmedV1,
  handoffFailedAttemptV1,
  handoffLockedV1,
  notificationRequestedV1,
} from '@phonegate/contracts';
import { Clock, DomainError, type Logger, MetricsService, PLATFORM_LOGGER } from '@phonegate/platform';
import { type CheckResult, CodeStore } from '../../codes/code.store';
import type { DeliveryOtpConfig } from '../../config/delivery-otp.config';
import type { AttemptOutcome } from '../../persistence/handoff-attempt.entity';
import { type AttemptRecord, alreadyHandedOff, ShipmentLedger, type ShipmentRecord, type ShipmentTx } from '../../persistence/shipment.ledger';
import { handedOffNotification } from '../../shipments/code-notifications';
import { CodeVault } from '../../shipments/code-vault';
import { DELIVERY_OTP_CONFIG } from '../../tokens';
import { handoffRequestIds } from '../handoff-request';
import { type HandoffTimes, handoffTimeVerdict } from '../handoff-time';
import type { HandoffBody } from '../handoff.schemas';

/** How long a wrong code's mirror waits for an unlock still pending in the store to settle or be undone. */
const UNLOCK_SETTLE_WAIT_MS = 500;
const UNLOCK_POLL_MS = 20;

export interface CourierDevice {
  deviceId: string;
  courierId: string;
}

/** The HTTP request a confirmation came in. */
export interface HandoffRequest {
  /** The request id (x-request-id), kept on the attempt's record. */
  requestId: string | null;
  /** The caller's Idempotency-Key, if it sent one. */
  idempotencyKey: string | null;
}

export interface HandoffAnswer {
  status: 'handed_off';
  at: string;
}

/**
 * A courier's device confirms a handoff at the door. The decision is one
 * atomic step in Redis (assignment, state, time rule, HMAC compare, attempt
 * count, lock); then the attempt is recorded in PostgreSQL with its events in
 * the same transaction, a wrong code's attempt count and lock also on the
 * shipment's row (what a later code inherits once this one expired or Redis
 * lost it). Without Redis nothing passes (503).
 *
 * Exactly one request gets the 200: the one Redis approved, or a retry of it
 * (same device and Idempotency-Key: the approval names the request, see
 * handoff-request.ts). Any other request, even from the same device at the
 * same moment, is 409 `already_handed_off`.
 *
 * If the record fails after Redis marked the handoff, the device's next
 * request finds the shipment handed off by itself with no record: the record
 * is written then, at the approval's time, so no confirmed handoff goes
 * unrecorded; that request answers 200 only if it is the approved one
 * retried. A record written so by another request while the approved one was
 * still on its way to record stands: the approved one answers 200.
 */
@Injectable()
export class ConfirmHandoff {
  constructor(
    private readonly store: CodeStore,
    private readonly ledger: ShipmentLedger,
    private readonly vault: CodeVault,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
    @Inject(DELIVERY_OTP_CONFIG) private readonly config: DeliveryOtpConfig,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
  ) {}

  async execute(device: CourierDevice, shipmentId: string, body: HandoffBody, request: HandoffRequest): Promise<HandoffAnswer> {
    const now = this.clock.now();
    const at = new Date(body.at);
    // A refusal is recorded under a fresh id; an approval under the request's (this request's, if it has no key).
    const attemptId = randomUUID();
    const requestIds = request.idempotencyKey
      ? handoffRequestIds(this.config.codeHmacKeys, { deviceId: device.deviceId, shipmentId, idempotencyKey: request.idempotencyKey })
      : [];
    const approvalId = requestIds[0] ?? attemptId;
    const result = await this.store.check({
      shipmentId,
      courierId: device.courierId,
      deviceId: device.deviceId,
      nowMs: now.getTime(),
      atMs: at.getTime(),
      toleranceMs: this.config.code.clockToleranceMs,
      maxAttempts: this.config.code.maxAttempts,
      attemptId: approvalId,
      candidates: this.vault.candidates(shipmentId, body.code),
    });
    this.metrics.counter('delivery_handoff_checks_total', 'Handoff checks by verdict', ['verdict']).inc({ verdict: result.verdict });
    const attempt = (outcome: AttemptOutcome, extra: Partial<AttemptRecord> = {}): AttemptRecord => ({
      id: attemptId,
      shipmentId,
      courierId: device.courierId,
      deviceId: device.deviceId,
      outcome,
      reason: null,
      codeGeneration: result.generation,
      attemptsRemaining: null,
      deviceAt: at,
      receivedAt: now,
      location: body.location ?? null,
      requestId: request.requestId,
      ...extra,
    });
    const log = { shipmentId, courierId: device.courierId, deviceId: device.deviceId, verdict: result.verdict };

    switch (result.verdict) {
      case 'ok': {
        const recorded = await this.recordConfirmed(attempt('confirmed', { id: approvalId, attemptsRemaining: result.attemptsRemaining }), attempt('refused_locked'));
        if (recorded instanceof DomainError) return this.refusedStale(log, recorded);
        this.logger.info(log, recorded === 'recorded' ? 'handoff confirmed' : 'handoff confirmed (recorded meanwhile by a repair)');
        return { status: 'handed_off', at: at.toISOString() };
      }

      case 'mismatch':
      case 'locked_now': {
        const locked = result.verdict === 'locked_now';
        // Under the shipment's lock, so an issue that read the row before this attempt cannot write back the older count.
        const stale = await this.ledger.transaction(shipmentId, { lock: true, load: false }, async (tx) => {
          // The row mirrors the live count and lock: an expiry or the loss of Redis is no way out of them (SECURITY C5).
          const row = await tx.mirrorHandoffState({ shipmentId, ...(await this.liveHandoffState(shipmentId, result)) });
          // The row names a later code than the one checked (read in the same statement: no extra round trip).
          // Replaced meanwhile (a regenerate committed before this took the lock), the store holds the row's
          // code and the attempt counts as usual; still in the store (discarded now, under the lock), it was an
          // older copy of the code (Redis went back in time): the submitted code, maybe the customer's current
          // one, was never checked. Answered as for a lost code, not counted.
          if (row?.status === 'awaiting_handoff' && row.generation > result.generation && (await this.store.discard(shipmentId, { generation: result.generation }))) {
            const afterWindow = now.getTime() > row.windowEnd.getTime();
            await tx.recordAttempt(
              afterWindow
                ? attempt('window_closed', { reason: 'code_lost' })
                : attempt('refused_locked', { reason: 'code_lost', attemptsRemaining: 0 }),
            );
            return afterWindow ? windowClosed('code_lost') : codeLost();
          }
          await tx.recordAttempt(attempt(locked ? 'locked' : 'code_mismatch', { attemptsRemaining: result.attemptsRemaining }));
          const base = { shipmentId, courierId: device.courierId, deviceId: device.deviceId, at: at.toISOString() };
          await tx.publish(handoffFailedAttemptV1, { ...base, attemptsLeft: result.attemptsRemaining });
          if (locked) await tx.publish(handoffLockedV1, base);
          return undefined;
        });
        if (stale) return this.refusedStale(log, stale);
        this.logger.warn({ ...log, attemptsRemaining: result.attemptsRemaining }, locked ? 'handoff locked' : 'handoff code mismatch');
        if (locked) {
          throw new DomainError('handoff_locked', 'Too many wrong codes: the customer can ask for a new code, or support can unlock.', {
            attemptsRemaining: 0,
          });
        }
        throw new DomainError('code_mismatch', 'That code is not right.', { attemptsRemaining: result.attemptsRemaining });
      }

      case 'locked':
        await this.recordRefusal(attempt('refused_locked', { attemptsRemaining: 0 }));
        this.logger.warn(log, 'handoff refused: locked');
        throw new DomainError('handoff_locked', 'Too many wrong codes: the customer can ask for a new code, or support can unlock.', {
          attemptsRemaining: 0,
        });

      case 'not_assigned':
        await this.recordRefusal(attempt('not_assigned'));
        this.logger.warn(log, 'handoff refused: courier not assigned');
        throw notAssigned();

      case 'window_closed':
        await this.recordRefusal(attempt('window_closed', { reason: result.reason, attemptsRemaining: result.attemptsRemaining }));
        this.logger.info({ ...log, reason: result.reason }, 'handoff refused: outside the window');
        throw windowClosed(result.reason);

      case 'already':
        return this.alreadyHandedOff(device, result, requestIds, attempt('already_handed_off'));

      case 'not_found':
        return this.withoutLiveCode(device, shipmentId, now, at, attempt);

      case 'key_unavailable':
        this.logger.error({ shipmentId }, 'handoff check impossible: the code key id is not configured');
        throw new DomainError('internal_error', 'The code cannot be checked.');
    }
  }

  /**
   * What the row mirrors after a wrong code: the live code's count and lock as they are now,
   * read under the shipment's lock, not as this check left them. A support unlock (or a
   * regenerate) that committed between this check and this write reset both; the check's own
   * figures would lock the row again and pass a stale lock to the shipment's next code.
   * Without a live code of that generation (expired, replaced, Redis unreachable) the check's
   * figures stand; the statement never lowers what the row holds.
   *
   * Live figures below the check's come from a reset after the check. A regenerate's is of
   * another generation (the check's figures, which the row's new generation ignores); an
   * unlock's counts only once it committed. Its transaction has ended (this one holds the
   * shipment's lock), but until it settles (committed: its token dropped) or is undone (its
   * revert brings the lock back) the store shows it pending: the mirror waits for that a
   * moment, then keeps the larger figures (fail closed: a lock on the row that the store no
   * longer has is lifted by the next unlock or regenerate; a lock missing from the row would
   * give the shipment's next code extra guesses).
   */
  private async liveHandoffState(
    shipmentId: string,
    result: { verdict: CheckResult['verdict']; attemptsRemaining: number; generation: number },
  ): Promise<{ generation: number; attempts: number; locked: boolean }> {
    const checked = {
      generation: result.generation,
      attempts: this.config.code.maxAttempts - result.attemptsRemaining,
      locked: result.verdict === 'locked_now',
    };
    for (let waited = 0; ; waited += UNLOCK_POLL_MS) {
      const live = await this.store.get(shipmentId).catch(() => undefined);
      if (!live || live.generation !== result.generation || live.state === 'handed_off') return checked;
      const current = { generation: live.generation, attempts: live.attempts, locked: live.state === 'locked' };
      const lowered = current.attempts < checked.attempts || (checked.locked && !current.locked);
      if (!lowered || !live.unlockPending) return current;
      if (waited >= UNLOCK_SETTLE_WAIT_MS) {
        return { generation: current.generation, attempts: Math.max(checked.attempts, current.attempts), locked: checked.locked || current.locked };
      }
      await delay(UNLOCK_POLL_MS);
    }
  }

  /**
   * Under the shipment's lock, so that an issue or reschedule that read the
   * shipment before the handoff and is still writing commits first; its write
   * could not replace a handed-off row anyway (ShipmentTx.save). `recorded_meanwhile`,
   * and nothing written or announced, when the attempt is recorded already: the
   * approved request finds it repaired by another one, or a repair finds it
   * recorded meanwhile. `alongside`, a repairing request's own attempt, is
   * recorded in the same transaction.
   *
   * The store's approval is held against the row first (read under the lock):
   * a store that went back in time (a failover to a lagging replica, a restart
   * from an older snapshot) approves from an earlier copy of the code, e.g. a
   * code a regenerate killed, or the right code of a shipment the row holds
   * locked or cancelled. Such an approval is refused (see staleApproval): the
   * request's `refusal` is recorded instead (same transaction), and the stale
   * copy is dropped from the store under the lock, so it cannot pass again and
   * the customer's app (GET code) issues the shipment a new code.
   */
  private async recordConfirmed(
    record: AttemptRecord,
    refusal: AttemptRecord,
    alongside?: AttemptRecord,
  ): Promise<'recorded' | 'recorded_meanwhile' | DomainError> {
    const outcome = await this.ledger.transaction(record.shipmentId, { lock: true }, async (tx) => {
      const stale = await this.staleApproval(tx, record);
      if (stale) {
        await tx.recordAttempt({ ...refusal, ...stale.attempt });
        await this.store.discard(record.shipmentId, { generation: record.codeGeneration, attemptId: record.id });
        return stale;
      }
      if (alongside) await tx.recordAttempt(alongside);
      const recorded = await tx.recordHandoff(record, { unlessRecorded: true });
      if (!recorded) return 'recorded_meanwhile' as const;
      const email = recorded.shipment ? handedOffNotification(recorded.shipment, record.deviceAt) : undefined;
      if (email) await tx.publish(notificationRequestedV1, email);
      await tx.publish(handoffConfirmedV1, {
        shipmentId: record.shipmentId,
        courierId: record.courierId,
        deviceId: record.deviceId,
        at: record.deviceAt.toISOString(),
        ...(record.location ? { location: record.location } : {}),
      });
      return 'recorded' as const;
    });
    return typeof outcome === 'string' ? outcome : outcome.error;
  }

  /**
   * Why the row refuses an approval the store gave (undefined: it stands). The
   * store decides alone on every other verdict; an approval, the one that
   * changes the row for good, must also agree with it:
   * - the row names a later code generation: the approved copy is of a code
   *   replaced since (a regenerate or re-issue the store forgot), so the
   *   current code is evidently lost from the store: 423 `code_lost`, as for a
   *   lost code (the app issues a new one);
   * - the row holds this generation locked (or its attempts spent): 423
   *   `handoff_locked`; a rolled-back store is no way round a lock;
   * - cancelled: 410 `cancelled`; handed off by another approval: 409.
   * A row with no shipment, or naming an earlier generation (an issue whose
   * commit is pending holds the lock until it ends), leaves the store's word.
   */
  private async staleApproval(tx: ShipmentTx, record: AttemptRecord): Promise<{ attempt: Partial<AttemptRecord>; error: DomainError } | undefined> {
    const row = tx.shipment;
    if (!row) return undefined;
    if (row.status === 'handed_off') {
      // Recorded already (a repair by another request): recordHandoff answers so. Read in this
      // transaction: a second connection, asked for while this one holds the lock, can wait for ever.
      if (await tx.hasAttempt(record.id)) return undefined;
      return { attempt: { outcome: 'already_handed_off', codeGeneration: row.codeGeneration }, error: alreadyHandedOff() };
    }
    if (row.status === 'cancelled') {
      return { attempt: { outcome: 'window_closed', reason: 'cancelled', codeGeneration: row.codeGeneration }, error: windowClosed('cancelled') };
    }
    if (record.codeGeneration < row.codeGeneration) {
      // As for a lost code: after the window's end no new code can be issued (withoutLiveCode).
      if (record.receivedAt.getTime() > row.windowEnd.getTime()) {
        return { attempt: { outcome: 'window_closed', reason: 'code_lost' }, error: windowClosed('code_lost') };
      }
      return { attempt: { outcome: 'refused_locked', reason: 'code_lost', attemptsRemaining: 0 }, error: codeLost() };
    }
    if (record.codeGeneration === row.codeGeneration && (row.handoffLocked || row.handoffAttempts >= this.config.code.maxAttempts)) {
      return { attempt: { outcome: 'refused_locked', reason: 'locked', attemptsRemaining: 0 }, error: handoffLocked() };
    }
    return undefined;
  }

  /** The answer to a request whose approval the row refused (recordConfirmed). */
  private refusedStale(log: Record<string, unknown>, error: DomainError): never {
    this.logger.warn({ ...log, refused: error.code, reason: error.extra['reason'] ?? null }, 'handoff refused: the code store approved from a stale copy of the code');
    throw error;
  }

  /**
   * Handed off already. 200 only to the approved request retried (this
   * device, this Idempotency-Key); 409 to any other request, which may be
   * running alongside the approved one. Either way, when the approval has no
   * record (it failed, or its process died, between the approval and the
   * record), the record is written now, under the approving device at the
   * device time the approval gave (the store keeps it): by the approving
   * device's next request (with its place only when it is the approved
   * request retried; a later request may be elsewhere), or by another device
   * of the same courier (the approving one was revoked, lost or replaced, and
   * would never repair it), with no place.
   */
  private async alreadyHandedOff(
    device: CourierDevice,
    result: Extract<CheckResult, { verdict: 'already' }>,
    requestIds: readonly string[],
    refusal: AttemptRecord,
  ): Promise<HandoffAnswer> {
    const approvedId = result.attemptId || undefined;
    const sameDevice = result.byDeviceId === device.deviceId;
    const retried = sameDevice && approvedId !== undefined && requestIds.includes(approvedId);
    // The approval's device time, as the store kept it: this request may be a later one (another time and place).
    const approvedAt = result.atMs !== undefined ? new Date(result.atMs) : refusal.deviceAt;
    if (approvedId && result.byDeviceId && !(await this.ledger.hasAttempt(approvedId))) {
      // The approval's time; its place only when this is the approved request itself retried (same body).
      const repaired: AttemptRecord = {
        ...refusal,
        id: approvedId,
        outcome: 'confirmed',
        attemptsRemaining: null,
        deviceId: result.byDeviceId,
        deviceAt: approvedAt,
        location: retried ? refusal.location : null,
      };
      const recorded = await this.recordConfirmed(repaired, { ...refusal, outcome: 'refused_locked' }, retried ? undefined : refusal);
      const log = { shipmentId: refusal.shipmentId, deviceId: device.deviceId, approvedBy: result.byDeviceId, retried };
      if (recorded instanceof DomainError) return this.refusedStale(log, recorded);
      if (recorded === 'recorded') this.logger.warn(log, 'handoff record repaired');
    } else if (!retried) {
      await this.recordRefusal(refusal);
    }
    if (retried) return { status: 'handed_off', at: approvedAt.toISOString() };
    throw alreadyHandedOff();
  }

  /**
   * No live code: the shipment is unknown, cancelled, handed off long ago, past its expiry, or
   * Redis lost its code.
   */
  private async withoutLiveCode(
    device: CourierDevice,
    shipmentId: string,
    now: Date,
    at: Date,
    attempt: (outcome: AttemptOutcome, extra?: Partial<AttemptRecord>) => AttemptRecord,
  ): Promise<HandoffAnswer> {
    // Under the shipment's lock: a cancel (or reissue) that already took the code from Redis
    // commits its row first, so the answer and the record name the reason (cancelled, not expired).
    // What the store holds is read under the lock too, so no cancel commits between the two reads.
    // The time rules, on the row's window, come first: what they refuse is refused (410 and
    // their reason) whatever the store holds, as the check does with a code.
    const { shipment, time, held } = await this.ledger.transaction(shipmentId, { lock: true }, async (tx) => {
      const row = tx.shipment;
      const live = row?.status === 'awaiting_handoff' && row.courierId === device.courierId && now.getTime() <= row.expiresAt.getTime();
      const verdict = live && row ? handoffTimeVerdict(this.timesOf(row, now, at)) : undefined;
      // A store that does not answer throws 503 here: a timeout is never taken for a lost code.
      return { shipment: row, time: verdict, held: verdict?.ok ? await this.store.presence(shipmentId) : undefined };
    });
    if (!shipment) throw new DomainError('not_found', 'No such shipment out for delivery.');
    if (shipment.courierId !== device.courierId) {
      await this.recordRefusal(attempt('not_assigned', { codeGeneration: shipment.codeGeneration }));
      throw notAssigned();
    }
    if (shipment.status === 'handed_off') {
      await this.recordRefusal(attempt('already_handed_off', { codeGeneration: shipment.codeGeneration }));
      throw alreadyHandedOff();
    }
    if (time && !time.ok) {
      await this.recordRefusal(attempt('window_closed', { reason: time.reason, codeGeneration: shipment.codeGeneration }));
      this.logger.info({ shipmentId, courierId: device.courierId, deviceId: device.deviceId, reason: time.reason }, 'handoff refused: outside the window');
      throw windowClosed(time.reason);
    }
    if (held === 'code' || held === 'revoking') {
      // The row says the code is live (its window, with grace, has not ended) and the store is
      // bringing one back: a cancel took it and failed, and its undo is putting it back (its
      // marker is there), or the code is back already. The code was not checked, so nothing is
      // decided and nothing recorded: the courier's device retries (503 with Retry-After, as for
      // any outage of the store) and that attempt is checked and recorded as usual.
      this.logger.warn({ shipmentId, courierId: device.courierId, deviceId: device.deviceId, held }, 'handoff deferred: the code is coming back');
      throw new DomainError('service_unavailable', 'The handoff code cannot be checked right now; try again shortly.', { retryAfter: 1 }, true);
    }
    if (held === 'none' && now.getTime() > shipment.windowEnd.getTime()) {
      // Lost during the grace period (a late submission the time rules accept): no code is
      // issued after the window's end (README "Handoff time rule"), so none can replace it and
      // the app has none to show. The courier is told the handoff can no longer be confirmed.
      await this.recordRefusal(attempt('window_closed', { reason: 'code_lost', codeGeneration: shipment.codeGeneration }));
      this.logger.warn({ shipmentId, courierId: device.courierId, deviceId: device.deviceId, generation: shipment.codeGeneration }, 'handoff refused: the code store lost the code after the window');
      throw windowClosed('code_lost');
    }
    if (held === 'none') {
      // Redis answered that it holds neither the code nor a pending revoke: the code is lost
      // (a restart or failover without it). Retrying would never end; no code can pass, so the
      // courier is told what unblocks the door: the customer's app shows a new code (it issues
      // one on seeing the loss) or the customer asks for one. 423 as for a withdrawn code.
      await this.recordRefusal(attempt('refused_locked', { reason: 'code_lost', attemptsRemaining: 0, codeGeneration: shipment.codeGeneration }));
      this.logger.warn({ shipmentId, courierId: device.courierId, deviceId: device.deviceId, generation: shipment.codeGeneration }, 'handoff refused: the code store lost the code');
      throw codeLost();
    }
    const reason = shipment.status === 'cancelled' ? 'cancelled' : 'expired';
    await this.recordRefusal(attempt('window_closed', { reason, codeGeneration: shipment.codeGeneration }));
    throw windowClosed(reason);
  }

  /** A handoff's times against the window the shipment's row holds. */
  private timesOf(row: ShipmentRecord, now: Date, at: Date): HandoffTimes {
    return {
      nowMs: now.getTime(),
      atMs: at.getTime(),
      windowStartMs: row.windowStart.getTime(),
      windowEndMs: row.windowEnd.getTime(),
      expiresAtMs: row.expiresAt.getTime(),
      toleranceMs: this.config.code.clockToleranceMs,
    };
  }

  private async recordRefusal(record: AttemptRecord): Promise<void> {
    await this.ledger.transaction(record.shipmentId, { lock: false, load: false }, (tx) => tx.recordAttempt(record));
  }
}

function handoffLocked(): DomainError {
  return new DomainError('handoff_locked', 'Too many wrong codes: the customer can ask for a new code, or support can unlock.', { attemptsRemaining: 0 });
}

/** The shipment's code is not in the store (lost, or only an older copy is): the customer's app shows a new one. */
function codeLost(): DomainError {
  return new DomainError('handoff_locked', "This shipment's code is no longer valid: ask the customer for the new code in their app, or to ask for a new one.", {
    attemptsRemaining: 0,
    reason: 'code_lost',
  });
}

function notAssigned(): DomainError {
  return new DomainError('not_assigned', 'This shipment is not assigned to this courier.');
}

function windowClosed(reason: string): DomainError {
  const detail: Record<string, string> = {
    expired: 'The delivery window and its grace period have ended.',
    cancelled: 'The shipment was cancelled; its code is revoked.',
    device_clock_ahead: "The device's time is ahead of the server's beyond the tolerance.",
    outside_window: 'The handoff time is outside the delivery window.',
    code_lost: "The delivery window has ended and the shipment's code is no longer valid: no new code can be issued for it.",
  };
  return new DomainError('window_closed', detail[reason] ?? 'The delivery window is closed.', { reason });
}
