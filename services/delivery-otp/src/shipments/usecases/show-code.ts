import { Inject, Injectable } from '@nestjs/common';
import { Clock, DomainError, type Logger, MetricsService, PLATFORM_LOGGER } from '@phonegate/platform';
import { CodeStore } from '../../codes/code.store';
import type { DeliveryOtpConfig } from '../../config/delivery-otp.config';
import { ShipmentLedger, type ShipmentRecord } from '../../persistence/shipment.ledger';
import { DELIVERY_OTP_CONFIG } from '../../tokens';
import { CodeUndo } from '../code-undo';
import { CodeVault } from '../code-vault';
import { regenerateWaitMs } from '../regenerate-cooldown';
import { issueFresh } from './issue-code';

type Shown = { code: string; expiresAt: string; status: 'awaiting_handoff' | 'locked' };

/**
 * The code for the customer's app: only while it lives (not after a cancel,
 * a handoff or its expiry) and only for the account the shipment is for.
 * Only the code the shipment's row names (its account and generation) is
 * shown: a code an issue left in the store without committing (a crash
 * between the two) is never readable; the next issue or a regenerate
 * replaces it. Nor is a code of a shipment whose row says cancelled (a
 * cancel revokes the code before it commits, so none should be left).
 *
 * A code the store lost (Redis restarted or failed over without it, or went
 * back to an older copy of it, of an earlier generation than the row's) while
 * the row still awaits the handoff within its window is replaced here: the
 * customer at the door opens the app and sees a working code, and the
 * courier, whose handoff answers 423 (`reason: code_lost`), takes that one.
 * The new code keeps the row's spent attempts and lock (showing it is no way
 * round a lock) and is sent by SMS as a regenerate is, when the row's
 * regenerate cap and cooldown allow a send (SECURITY C9) and it is not
 * locked; else it is only shown. A code a cancel is still bringing back
 * (its revoke's marker) is waited for (503, Retry-After: 1), and a store that
 * does not answer is 503: only Redis's answer tells that a code is lost.
 */
@Injectable()
export class ShowCode {
  constructor(
    private readonly store: CodeStore,
    private readonly ledger: ShipmentLedger,
    private readonly vault: CodeVault,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
    @Inject(DELIVERY_OTP_CONFIG) private readonly config: DeliveryOtpConfig,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
  ) {}

  async execute(shipmentId: string, accountId: string): Promise<Shown> {
    const [live, row] = await Promise.all([this.store.get(shipmentId), this.ledger.find(shipmentId)]);
    // No code, or only an older copy than the row names (Redis went back in time): replaced.
    if (row && this.replaceable(row) && (!live || live.generation < row.codeGeneration)) {
      if (row.accountId !== accountId) throw new DomainError('forbidden', 'This shipment is not for this account.');
      return this.replaceLost(shipmentId, accountId);
    }
    return this.shown(shipmentId, accountId, live, row);
  }

  private shown(shipmentId: string, accountId: string, live: Awaited<ReturnType<CodeStore['get']>>, row: ShipmentRecord | undefined): Shown {
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

  /** The row awaits the handoff and its window has not ended: a code may still be issued for it. */
  private replaceable(row: ShipmentRecord): boolean {
    return row.status === 'awaiting_handoff' && row.windowEnd.getTime() > this.clock.nowMs();
  }

  /**
   * Under the shipment's lock, the store asked again: a new code for one Redis lost (see the
   * class). What is shown is read under the same lock, so a regenerate or cancel that writes the
   * store before its own commit (it waits for the lock) is not half seen (its new code with the
   * row not yet naming it: a 404 right after this display issued and sent a code).
   */
  private async replaceLost(shipmentId: string, accountId: string): Promise<Shown> {
    const undo = new CodeUndo(this.store, this.ledger, this.logger);
    return undo.transaction(shipmentId, async (tx) => {
      const row = tx.shipment;
      const current = async () => this.shown(shipmentId, accountId, await this.store.get(shipmentId), row);
      // Changed meanwhile (cancelled, handed off, re-issued to another account): the show decides.
      if (!row || !this.replaceable(row) || row.accountId !== accountId) return current();
      const held = await this.store.presence(shipmentId);
      if (held === 'code') {
        const live = await this.store.get(shipmentId);
        if (!live || live.generation >= row.codeGeneration) return this.shown(shipmentId, accountId, live, row);
        // A copy of an earlier code (a failover to a lagging replica, a restart from an older
        // snapshot): a code the row no longer names, never shown; it goes, and the lost code is replaced.
        this.logger.warn({ shipmentId, generation: live.generation, rowGeneration: row.codeGeneration }, 'code store holds an older copy of the code; dropping it');
        await this.store.discard(shipmentId, { generation: live.generation });
      } else if (held === 'revoking') {
        throw new DomainError('service_unavailable', 'The handoff code cannot be shown right now; try again shortly.', { retryAfter: 1 }, true);
      }
      const nowMs = this.clock.nowMs();
      const { maxRegenerations, regenerateCooldownMs } = this.config.code;
      const send =
        !row.handoffLocked &&
        row.regenerations < maxRegenerations &&
        regenerateWaitMs(row.regenerations, row.lastCodeSentAt?.getTime() ?? 0, nowMs, regenerateCooldownMs) === 0;
      this.logger.warn({ shipmentId, generation: row.codeGeneration, send }, 'code store lost the code; issuing a new one for the app');
      const deps = { store: this.store, vault: this.vault, clock: this.clock, logger: this.logger, metrics: this.metrics, undo };
      // The event's reason is one of the contract's (delivery.handoff.code_issued.v1: out_for_delivery |
      // regenerated); the metric tells these codes apart from the customer's regenerates.
      await issueFresh(tx, send ? { ...row, regenerations: row.regenerations + 1 } : row, 'regenerated', deps, { send, metricReason: 'replaced_lost' });
      // The code just stored, with the row as issueFresh saved it (the next generation).
      return this.shown(shipmentId, accountId, await this.store.get(shipmentId), { ...row, status: 'awaiting_handoff', codeGeneration: row.codeGeneration + 1 });
    });
  }
}
