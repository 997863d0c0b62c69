import { Injectable } from '@nestjs/common';
import { DomainError } from '@phonegate/platform';
import { CodeStore } from '../../codes/code.store';
import { CodeVault } from '../code-vault';

/**
 * The code for the customer's app: only while it lives (not after a cancel,
 * a handoff or its expiry) and only for the account the shipment is for.
 */
@Injectable()
export class ShowCode {
  constructor(
    private readonly store: CodeStore,
    private readonly vault: CodeVault,
  ) {}

  async execute(shipmentId: string, accountId: string): Promise<{ code: string; expiresAt: string; status: 'awaiting_handoff' | 'locked' }> {
    const live = await this.store.get(shipmentId);
    if (!live || !live.sealed || live.state === 'handed_off') {
      throw new DomainError('not_found', 'No live handoff code for this shipment.');
    }
    if (live.accountId !== accountId) throw new DomainError('forbidden', 'This shipment is not for this account.');
    return { code: this.vault.open(shipmentId, live.sealed), expiresAt: new Date(live.expiresAtMs).toISOString(), status: live.state };
  }
}
