import { Inject, Injectable } from '@nestjs/common';
import { DomainError, type Logger, PLATFORM_LOGGER } from '@phonegate/platform';
import { CodeStore } from '../../codes/code.store';
import type { DeliveryOtpConfig } from '../../config/delivery-otp.config';
import { alreadyHandedOff, ShipmentLedger } from '../../persistence/shipment.ledger';
import { DELIVERY_OTP_CONFIG } from '../../tokens';

/** Support unlocks a locked handoff: the same code works again with a fresh set of attempts. */
@Injectable()
export class UnlockHandoff {
  constructor(
    private readonly store: CodeStore,
    private readonly ledger: ShipmentLedger,
    @Inject(DELIVERY_OTP_CONFIG) private readonly config: DeliveryOtpConfig,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
  ) {}

  async execute(shipmentId: string): Promise<{ shipmentId: string; status: 'awaiting_handoff'; attemptsRemaining: number }> {
    const result = await this.store.unlock(shipmentId);
    if (result.verdict === 'already') throw alreadyHandedOff();
    if (result.verdict === 'not_found') {
      const shipment = await this.ledger.find(shipmentId);
      if (shipment?.status === 'handed_off') throw alreadyHandedOff();
      throw new DomainError('not_found', 'No live handoff code for this shipment.');
    }
    this.logger.info({ shipmentId }, 'handoff unlocked by support');
    return { shipmentId, status: 'awaiting_handoff', attemptsRemaining: this.config.code.maxAttempts };
  }
}
