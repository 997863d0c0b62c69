import { Inject, Injectable } from '@nestjs/common';
import { DomainError, type Logger, PLATFORM_LOGGER } from '@phonegate/platform';
import { CodeStore, type HandoffCarry } from '../../codes/code.store';
import { alreadyHandedOff, ShipmentLedger, type ShipmentRecord } from '../../persistence/shipment.ledger';
import type { ShipmentAnswer } from '../shipments.schemas';

/**
 * Cancels a shipment: its code is revoked at once (gone from Redis). The
 * code's spent attempts, lock and regeneration count go to the shipment's row,
 * so the shipment going out for delivery again is no way out of a lock or the
 * regeneration cap (SECURITY C5, C9). Repeating it is harmless.
 */
@Injectable()
export class CancelShipment {
  constructor(
    private readonly store: CodeStore,
    private readonly ledger: ShipmentLedger,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
  ) {}

  async execute(shipmentId: string): Promise<ShipmentAnswer> {
    return this.ledger.transaction(shipmentId, { lock: true }, async (tx) => {
      const existing = tx.shipment;
      if (!existing) throw new DomainError('not_found', 'No such shipment out for delivery.', {}, false);
      if (existing.status === 'handed_off') throw alreadyHandedOff();
      const result = await this.store.revoke(shipmentId);
      if (result.verdict === 'already') throw alreadyHandedOff();
      // No code in the store (already cancelled, expired, or Redis lost it): the row keeps what it carries.
      const carried = result.verdict === 'ok' ? carryOnRow(result.carry) : {};
      if (existing.status !== 'cancelled' || result.verdict === 'ok') {
        await tx.save({ ...existing, ...carried, status: 'cancelled' });
        this.logger.info({ shipmentId, locked: result.verdict === 'ok' && result.carry.locked }, 'shipment cancelled; code revoked');
      }
      return { shipmentId, status: 'cancelled' };
    });
  }
}

/** A code's carry as the shipment's row keeps it. */
export function carryOnRow(carry: HandoffCarry): Pick<ShipmentRecord, 'handoffAttempts' | 'handoffLocked' | 'regenerations' | 'lastCodeSentAt'> {
  return {
    handoffAttempts: carry.attempts,
    handoffLocked: carry.locked,
    regenerations: carry.regenerations,
    lastCodeSentAt: carry.lastSentMs > 0 ? new Date(carry.lastSentMs) : null,
  };
}
