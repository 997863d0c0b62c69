import { Inject, Injectable } from '@nestjs/common';
import { DomainError, type Logger, PLATFORM_LOGGER } from '@phonegate/platform';
import { CodeStore } from '../../codes/code.store';
import { ShipmentLedger } from '../../persistence/shipment.ledger';
import { CodeVault } from '../code-vault';

/**
 * The code for the customer's app: only while it lives (not after a cancel,
 * a handoff or its expiry) and only for the account the shipment is for.
 * Only the code the shipment's row names (its account and generation) is
 * shown: a code an issue left in the store without committing (a crash
 * between the two) is never readable; the next issue or a regenerate
 * replaces it. Nor is a code of a shipment whose row says cancelled (a
 * cancel revokes the code before it commits, so none should be left).
 */
@Injectable()
export class ShowCode {
  constructor(
    private readonly store: CodeStore,
    private readonly ledger: ShipmentLedger,
    private readonly vault: CodeVault,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
  ) {}

  async execute(shipmentId: string, accountId: string): Promise<{ code: string; expiresAt: string; status: 'awaiting_handoff' | 'locked' }> {
    const [live, row] = await Promise.all([this.store.get(shipmentId), this.ledger.find(shipmentId)]);
    if (!live || !live.sealed || live.state === 'handed_off') {
      throw new DomainError('not_found', 'No live handoff code for this shipment.');
    }
    if (live.accountId !== accountId) throw new DomainError('forbidden', 'This shipment is not for this account.');
    if (!row || row.status === 'cancelled' || row.accountId !== live.accountId || row.codeGeneration !== live.generation) {
      this.logger.warn({ shipmentId, generation: live.generation, rowGeneration: row?.codeGeneration ?? null }, 'code store holds a code the shipment does not name; not shown');
      throw new DomainError('not_found', 'No live handoff code for this shipment.');
    }
    return { code: this.vault.open(shipmentId, live.sealed), expiresAt: new Date(live.expiresAtMs).toISOString(), status: live.state };
  }
}
