import { Inject, Injectable } from '@nestjs/common';
import { DomainError, type Logger, PLATFORM_LOGGER } from '@phonegate/platform';
import { CodeStore } from '../../codes/code.store';
import { alreadyHandedOff, ShipmentLedger } from '../../persistence/shipment.ledger';
import type { ShipmentAnswer } from '../shipments.schemas';

/** Cancels a shipment: its code is revoked at once (gone from Redis). Repeating it is harmless. */
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
      if (existing.status !== 'cancelled') {
        await tx.save({ ...existing, status: 'cancelled' });
        this.logger.info({ shipmentId }, 'shipment cancelled; code revoked');
      }
      return { shipmentId, status: 'cancelled' };
    });
  }
}
