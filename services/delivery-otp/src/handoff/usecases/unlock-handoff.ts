import { Inject, Injectable } from '@nestjs/common';
import { DomainError, type Logger, PLATFORM_LOGGER } from '@phonegate/platform';
import { CodeStore } from '../../codes/code.store';
import type { DeliveryOtpConfig } from '../../config/delivery-otp.config';
import { alreadyHandedOff, ShipmentLedger } from '../../persistence/shipment.ledger';
import { CodeUndo } from '../../shipments/code-undo';
import { DELIVERY_OTP_CONFIG } from '../../tokens';

/**
 * Support unlocks a locked handoff: the same code works again with a fresh
 * set of attempts, and the shipment's row no longer carries a lock or spent
 * attempts to a later code. If the row's write does not commit, the lock
 * comes back in the store with every attempt spent (CodeUndo) and support
 * gets the 503: a failed unlock lifts nothing.
 */
@Injectable()
export class UnlockHandoff {
  constructor(
    private readonly store: CodeStore,
    private readonly ledger: ShipmentLedger,
    @Inject(DELIVERY_OTP_CONFIG) private readonly config: DeliveryOtpConfig,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
  ) {}

  async execute(shipmentId: string): Promise<{ shipmentId: string; status: 'awaiting_handoff'; attemptsRemaining: number }> {
    const undo = new CodeUndo(this.store, this.ledger, this.logger);
    return undo.transaction(shipmentId, async (tx) => {
      const shipment = tx.shipment;
      // A revert brings back the larger of the row's and the store's attempts and lock (a lock not mirrored yet, or one
      // an earlier unlock that did not commit lifted in the store only).
      const result = await this.store.unlock(shipmentId, shipment ? { attempts: shipment.handoffAttempts, locked: shipment.handoffLocked } : undefined);
      if (result.verdict === 'already') throw alreadyHandedOff();
      if (result.verdict === 'ok') undo.changed(shipmentId, result.change);
      if (result.verdict === 'not_found') {
        if (shipment?.status === 'handed_off') throw alreadyHandedOff();
        throw new DomainError('not_found', 'No live handoff code for this shipment.');
      }
      // What the row carries for the next code (a wrong code's count or lock, a cancel's) is lifted too.
      if (shipment && (shipment.handoffAttempts > 0 || shipment.handoffLocked)) await tx.save({ ...shipment, handoffAttempts: 0, handoffLocked: false });
      this.logger.info({ shipmentId }, 'handoff unlocked by support');
      return { shipmentId, status: 'awaiting_handoff' as const, attemptsRemaining: this.config.code.maxAttempts };
    });
  }
}
