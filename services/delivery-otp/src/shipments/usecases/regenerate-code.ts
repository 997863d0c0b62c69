import { Inject, Injectable } from '@nestjs/common';
import { handoffCodeIssuedV1, notificationRequestedV1 } from '@phonegate/contracts';
import { Clock, DomainError, type Logger, MetricsService, PLATFORM_LOGGER } from '@phonegate/platform';
import { CodeStore } from '../../codes/code.store';
import type { DeliveryOtpConfig } from '../../config/delivery-otp.config';
import { alreadyHandedOff, ShipmentLedger, type ShipmentRecord } from '../../persistence/shipment.ledger';
import { DELIVERY_OTP_CONFIG } from '../../tokens';
import { CodeUndo } from '../code-undo';
import { CodeVault } from '../code-vault';
import { codeNotifications } from '../code-notifications';
import { assertWindowOpen } from '../code-window';
import { regenerateWaitMs } from '../regenerate-cooldown';
import type { ShipmentAnswer } from '../shipments.schemas';
import { answer, issueFresh } from './issue-code';

/**
 * The customer asks for a new code: the old one stops at once, attempts and
 * any lock reset, and the new code is sent by SMS. Bounded (SECURITY C9) by a
 * cooldown that doubles with each send from the last one (30 s after the
 * issue, then 60 s, 120 s…) and a maximum per shipment (5 sends with the
 * issue by default), 429 with the seconds actually left as Retry-After, since
 * each one sends an SMS.
 * The store takes the account, courier and window from the row, so it also
 * repairs a store left holding another account's code. If the transaction
 * does not commit, the old code comes back with its lock (CodeUndo); the
 * failed regenerate does not count against the cooldown or the maximum.
 */
@Injectable()
export class RegenerateCode {
  constructor(
    private readonly store: CodeStore,
    private readonly ledger: ShipmentLedger,
    private readonly vault: CodeVault,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
    @Inject(DELIVERY_OTP_CONFIG) private readonly config: DeliveryOtpConfig,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
  ) {}

  async execute(shipmentId: string, accountId: string | undefined): Promise<ShipmentAnswer> {
    const undo = new CodeUndo(this.store, this.ledger, this.logger);
    return undo.transaction(shipmentId, async (tx) => {
      const existing = tx.shipment;
      if (!existing || existing.status === 'cancelled') throw new DomainError('not_found', 'No live handoff code for this shipment.');
      if (accountId !== undefined && existing.accountId !== accountId) {
        throw new DomainError('forbidden', 'This shipment is not for this account.');
      }
      if (existing.status === 'handed_off') throw alreadyHandedOff();
      const now = this.clock.nowMs();
      assertWindowOpen(existing.windowEnd, now, 'The delivery window has ended; the code already sent stays valid for a late handoff.');
      const material = this.vault.draw(shipmentId, existing.merchantId);
      undo.issuing(shipmentId, { generation: existing.codeGeneration + 1, hmac: material.hmac });
      const result = await this.store.regenerate(shipmentId, {
        nowMs: now,
        cooldownMs: this.config.code.regenerateCooldownMs,
        maxRegenerations: this.config.code.maxRegenerations,
        sealed: material.sealed,
        hmacKeyId: material.hmacKeyId,
        hmac: material.hmac,
        // From the row: a store holding another account's or an uncommitted code is repaired.
        owner: {
          accountId: existing.accountId,
          courierId: existing.courierId,
          windowStartMs: existing.windowStart.getTime(),
          windowEndMs: existing.windowEnd.getTime(),
          expiresAtMs: existing.expiresAt.getTime(),
          generation: existing.codeGeneration,
        },
      });
      if (result.verdict === 'ok') undo.replaced(result.replaced);
      else undo.clear();
      const deps = { store: this.store, vault: this.vault, clock: this.clock, logger: this.logger, metrics: this.metrics, undo };
      switch (result.verdict) {
        case 'not_found':
          // The store lost the code (e.g. a Redis failover): issue a fresh one, within the cap and cooldown the row counts.
          this.assertAllowedByRow(existing, now);
          return issueFresh(tx, { ...existing, ...regenerated(existing.regenerations + 1, now) }, 'regenerated', deps);
        case 'already':
          throw alreadyHandedOff();
        case 'cooldown':
          throw cooldown(result.retryAfterMs);
        case 'limit':
          throw noMoreCodes(result.retryAfterMs / 1000);
        case 'ok': {
          const record: ShipmentRecord = {
            ...existing,
            ...regenerated(result.regenerations, now),
            status: 'awaiting_handoff',
            codeGeneration: result.generation,
          };
          await tx.save(record);
          for (const message of codeNotifications(record, material.code, 'regenerated')) await tx.publish(notificationRequestedV1, message);
          await tx.publish(handoffCodeIssuedV1, {
            shipmentId,
            courierId: record.courierId,
            deviceId: null,
            at: this.clock.now().toISOString(),
            expiresAt: record.expiresAt.toISOString(),
            reason: 'regenerated',
          });
          this.metrics.counter('delivery_codes_issued_total', 'Handoff codes issued', ['reason']).inc({ reason: 'regenerated' });
          this.logger.info({ shipmentId, generation: result.generation }, 'handoff code regenerated');
          return answer(record);
        }
      }
    });
  }

  /** The cap and cooldown of regenerate.lua, from the shipment's row (for a code the store lost). */
  private assertAllowedByRow(row: ShipmentRecord, nowMs: number): void {
    if (row.regenerations >= this.config.code.maxRegenerations) throw noMoreCodes((row.expiresAt.getTime() - nowMs) / 1000);
    const waitMs = regenerateWaitMs(row.regenerations, row.lastCodeSentAt?.getTime() ?? 0, nowMs, this.config.code.regenerateCooldownMs);
    if (waitMs > 0) throw cooldown(waitMs);
  }
}

/** 429 with the seconds actually left (the cooldown doubles with each send, SECURITY C9). */
function cooldown(waitMs: number): DomainError {
  return new DomainError('resend_cooldown', 'A new code was sent moments ago; wait before asking again.', { retryAfter: waitMs / 1000 });
}

function noMoreCodes(retryAfterSeconds: number): DomainError {
  return new DomainError('rate_limited', 'No more new codes for this shipment.', { retryAfter: retryAfterSeconds });
}

/** The row after a regenerate: attempts and lock reset, one more regeneration, a code sent `nowMs`. */
function regenerated(regenerations: number, nowMs: number): Pick<ShipmentRecord, 'handoffAttempts' | 'handoffLocked' | 'regenerations' | 'lastCodeSentAt'> {
  return { handoffAttempts: 0, handoffLocked: false, regenerations, lastCodeSentAt: new Date(nowMs) };
}
