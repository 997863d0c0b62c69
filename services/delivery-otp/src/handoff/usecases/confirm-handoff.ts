import { randomUUID } from 'node:crypto';
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
import { type AttemptRecord, alreadyHandedOff, ShipmentLedger } from '../../persistence/shipment.ledger';
import { handedOffNotification } from '../../shipments/code-notifications';
import { CodeVault } from '../../shipments/code-vault';
import { DELIVERY_OTP_CONFIG } from '../../tokens';
import type { HandoffBody } from '../handoff.schemas';

export interface CourierDevice {
  deviceId: string;
  courierId: string;
}

export interface HandoffAnswer {
  status: 'handed_off';
  at: string;
}

/**
 * A courier's device confirms a handoff at the door. The decision is one
 * atomic step in Redis (assignment, state, time rule, HMAC compare, attempt
 * count, lock); then the attempt is recorded in PostgreSQL with its events in
 * the same transaction. Without Redis nothing passes (503).
 *
 * If the record fails after Redis marked the handoff, the device's retry finds
 * the shipment handed off by itself with no record: the record is written
 * then and the retry answers 200, so no confirmed handoff goes unrecorded.
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

  async execute(device: CourierDevice, shipmentId: string, body: HandoffBody, requestId: string | null): Promise<HandoffAnswer> {
    const now = this.clock.now();
    const at = new Date(body.at);
    const attemptId = randomUUID();
    const result = await this.store.check({
      shipmentId,
      courierId: device.courierId,
      deviceId: device.deviceId,
      nowMs: now.getTime(),
      atMs: at.getTime(),
      toleranceMs: this.config.code.clockToleranceMs,
      maxAttempts: this.config.code.maxAttempts,
      attemptId,
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
      requestId,
      ...extra,
    });
    const log = { shipmentId, courierId: device.courierId, deviceId: device.deviceId, verdict: result.verdict };

    switch (result.verdict) {
      case 'ok':
        await this.recordConfirmed(attempt('confirmed', { attemptsRemaining: result.attemptsRemaining }), body);
        this.logger.info(log, 'handoff confirmed');
        return { status: 'handed_off', at: at.toISOString() };

      case 'mismatch':
      case 'locked_now': {
        const locked = result.verdict === 'locked_now';
        await this.ledger.transaction(shipmentId, { lock: false, load: false }, async (tx) => {
          await tx.recordAttempt(attempt(locked ? 'locked' : 'code_mismatch', { attemptsRemaining: result.attemptsRemaining }));
          const base = { shipmentId, courierId: device.courierId, deviceId: device.deviceId, at: at.toISOString() };
          await tx.publish(handoffFailedAttemptV1, { ...base, attemptsLeft: result.attemptsRemaining });
          if (locked) await tx.publish(handoffLockedV1, base);
        });
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
        return this.alreadyHandedOff(device, shipmentId, body, result, attempt('already_handed_off'));

      case 'not_found':
        return this.withoutLiveCode(device, shipmentId, attempt);

      case 'key_unavailable':
        this.logger.error({ shipmentId }, 'handoff check impossible: the code key id is not configured');
        throw new DomainError('internal_error', 'The code cannot be checked.');
    }
  }

  /**
   * Under the shipment's lock, so that an issue or reschedule that read the
   * shipment before the handoff and is still writing commits first; its write
   * could not replace a handed-off row anyway (ShipmentTx.save).
   */
  private async recordConfirmed(record: AttemptRecord, body: HandoffBody, repair = false): Promise<void> {
    await this.ledger.transaction(record.shipmentId, { lock: true, load: false }, async (tx) => {
      const recorded = await tx.recordHandoff(record, { unlessRecorded: repair });
      if (!recorded) return;
      const email = recorded.shipment ? handedOffNotification(recorded.shipment, record.deviceAt) : undefined;
      if (email) await tx.publish(notificationRequestedV1, email);
      await tx.publish(handoffConfirmedV1, {
        shipmentId: record.shipmentId,
        courierId: record.courierId,
        deviceId: record.deviceId,
        at: record.deviceAt.toISOString(),
        ...(body.location ? { location: body.location } : {}),
      });
    });
  }

  private async alreadyHandedOff(
    device: CourierDevice,
    shipmentId: string,
    body: HandoffBody,
    result: Extract<CheckResult, { verdict: 'already' }>,
    refusal: AttemptRecord,
  ): Promise<HandoffAnswer> {
    // Repair: this device handed it off but the record did not commit.
    if (result.byDeviceId === device.deviceId && result.attemptId && !(await this.ledger.hasAttempt(result.attemptId))) {
      await this.recordConfirmed({ ...refusal, id: result.attemptId, outcome: 'confirmed', attemptsRemaining: null }, body, true);
      this.logger.warn({ shipmentId, deviceId: device.deviceId }, 'handoff record repaired on retry');
      return { status: 'handed_off', at: refusal.deviceAt.toISOString() };
    }
    await this.recordRefusal(refusal);
    throw alreadyHandedOff();
  }

  /** No live code: the shipment is unknown, cancelled, handed off long ago, or past its expiry. */
  private async withoutLiveCode(
    device: CourierDevice,
    shipmentId: string,
    attempt: (outcome: AttemptOutcome, extra?: Partial<AttemptRecord>) => AttemptRecord,
  ): Promise<HandoffAnswer> {
    const shipment = await this.ledger.find(shipmentId);
    if (!shipment) throw new DomainError('not_found', 'No such shipment out for delivery.');
    if (shipment.courierId !== device.courierId) {
      await this.recordRefusal(attempt('not_assigned', { codeGeneration: shipment.codeGeneration }));
      throw notAssigned();
    }
    if (shipment.status === 'handed_off') {
      await this.recordRefusal(attempt('already_handed_off', { codeGeneration: shipment.codeGeneration }));
      throw alreadyHandedOff();
    }
    const reason = shipment.status === 'cancelled' ? 'cancelled' : 'expired';
    await this.recordRefusal(attempt('window_closed', { reason, codeGeneration: shipment.codeGeneration }));
    throw windowClosed(reason);
  }

  private async recordRefusal(record: AttemptRecord): Promise<void> {
    await this.ledger.transaction(record.shipmentId, { lock: false, load: false }, (tx) => tx.recordAttempt(record));
  }
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
  };
  return new DomainError('window_closed', detail[reason] ?? 'The delivery window is closed.', { reason });
}
