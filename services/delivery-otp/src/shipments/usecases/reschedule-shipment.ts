import { Inject, Injectable } from '@nestjs/common';
import { Clock, DomainError, type Logger, MetricsService, PLATFORM_LOGGER } from '@phonegate/platform';
import { CodeStore } from '../../codes/code.store';
import type { DeliveryOtpConfig } from '../../config/delivery-otp.config';
import { alreadyHandedOff, ShipmentLedger, type ShipmentRecord } from '../../persistence/shipment.ledger';
import { DELIVERY_OTP_CONFIG } from '../../tokens';
import { CodeUndo } from '../code-undo';
import { CodeVault } from '../code-vault';
import { assertWindowOpen } from '../code-window';
import type { RescheduleBody, ShipmentAnswer } from '../shipments.schemas';
import { answer, issueFresh, showsWindowOf, windowOf } from './issue-code';

/**
 * Moves the window (and maybe the courier): the code stays, its expiry
 * follows the new window, a new courier replaces the old one at once. If the
 * code is gone (its old window ran out), a fresh one is issued and sent. A
 * new window that has already ended is refused (410).
 */
@Injectable()
export class RescheduleShipment {
  constructor(
    private readonly store: CodeStore,
    private readonly ledger: ShipmentLedger,
    private readonly vault: CodeVault,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
    @Inject(DELIVERY_OTP_CONFIG) private readonly config: DeliveryOtpConfig,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
  ) {}

  async execute(shipmentId: string, change: RescheduleBody): Promise<ShipmentAnswer> {
    const windowStart = new Date(change.window.start);
    const windowEnd = new Date(change.window.end);
    const expiresAt = new Date(windowEnd.getTime() + this.config.code.graceMs);
    assertWindowOpen(windowEnd, this.clock.nowMs(), 'The new delivery window has already ended.');
    const undo = new CodeUndo(this.store, this.ledger, this.logger);
    return undo.transaction(shipmentId, async (tx) => {
      const existing = tx.shipment;
      if (!existing) throw new DomainError('not_found', 'No such shipment out for delivery.', {}, false);
      if (existing.status === 'handed_off') throw alreadyHandedOff();
      if (existing.status === 'cancelled') {
        throw new DomainError('conflict', 'This shipment was cancelled; send it out for delivery again.', {}, false);
      }
      const record: ShipmentRecord = { ...existing, windowStart, windowEnd, expiresAt, courierId: change.courierId ?? existing.courierId };
      const result = await this.store.reschedule(shipmentId, {
        windowStartMs: windowStart.getTime(),
        windowEndMs: windowEnd.getTime(),
        expiresAtMs: expiresAt.getTime(),
        ...(change.courierId ? { courierId: change.courierId } : {}),
        expect: { accountId: existing.accountId, generation: existing.codeGeneration },
        previous: windowOf(existing),
      });
      if (result.verdict !== 'ok') {
        if (result.verdict === 'already') throw alreadyHandedOff();
        // No code, or not the one the row names (stale): a fresh one, keeping the lock and spent attempts.
        return issueFresh(tx, record, 'out_for_delivery', { store: this.store, vault: this.vault, clock: this.clock, logger: this.logger, metrics: this.metrics, undo });
      }
      // A failure from here puts the old window and courier back in the store (CodeUndo).
      undo.changed(shipmentId, result.change, showsWindowOf(record));
      await tx.save(record);
      this.logger.info({ shipmentId, courierId: record.courierId, courierChanged: record.courierId !== existing.courierId }, 'shipment rescheduled');
      return { ...answer(record), status: result.state === 'locked' ? 'locked' : 'awaiting_handoff' };
    });
  }
}
