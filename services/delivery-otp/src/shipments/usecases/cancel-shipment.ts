import { Inject, Injectable } from '@nestjs/common';
import { DomainError, type Logger, PLATFORM_LOGGER } from '@phonegate/platform';
import { CodeStore, type HandoffCarry } from '../../codes/code.store';
import { alreadyHandedOff, ShipmentLedger, type ShipmentRecord } from '../../persistence/shipment.ledger';
import { CodeUndo } from '../code-undo';
import { windowOf } from './issue-code';
import type { ShipmentAnswer } from '../shipments.schemas';

/**
 * Cancels a shipment: its code is revoked at once (gone from Redis). The
 * code's spent attempts, lock and regeneration count go to the shipment's row,
 * so the shipment going out for delivery again is no way out of a lock or the
 * regeneration cap (SECURITY C5, C9). Repeating it is harmless.
 *
 * The revoke comes before the commit, and a cancel that does not commit puts
 * the revoked code back (CodeUndo: the same code, attempts and lock, and the
 * caller gets the database's 503): a crash between the two leaves no code
 * rather than a cancelled shipment whose code still opens the door, and the
 * lock is on the row as well. When the commit's outcome is unknown and the row
 * cannot be read, the code comes back withdrawn (its attempts and lock, no
 * usable code).
 */
@Injectable()
export class CancelShipment {
  constructor(
    private readonly store: CodeStore,
    private readonly ledger: ShipmentLedger,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
  ) {}

  async execute(shipmentId: string): Promise<ShipmentAnswer> {
    const undo = new CodeUndo(this.store, this.ledger, this.logger);
    return undo.transaction(shipmentId, async (tx) => {
      const existing = tx.shipment;
      if (!existing) throw new DomainError('not_found', 'No such shipment out for delivery.', {}, false);
      if (existing.status === 'handed_off') throw alreadyHandedOff();
      // The row's lock and attempts count too, and its window and courier are what a revert brings back: an unlock or
      // reschedule that changed the store only (it did not commit) changes nothing.
      const result = await this.store.revoke(shipmentId, { attempts: existing.handoffAttempts, locked: existing.handoffLocked, window: windowOf(existing) });
      if (result.verdict === 'already') throw alreadyHandedOff();
      // A code left for a shipment already cancelled goes whatever happens; else a failure puts it back.
      if (result.verdict === 'ok' && existing.status !== 'cancelled') undo.changed(shipmentId, result.change, (row) => row.status === 'cancelled');
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
