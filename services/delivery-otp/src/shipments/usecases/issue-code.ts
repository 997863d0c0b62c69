import { Inject, Injectable } from '@nestjs/common';
import { handoffCodeIssuedV1, notificationRequestedV1 } from '@phonegate/contracts';
import { Clock, type Logger, MetricsService, PLATFORM_LOGGER } from '@phonegate/platform';
import { CodeStore } from '../../codes/code.store';
import type { DeliveryOtpConfig } from '../../config/delivery-otp.config';
import { alreadyHandedOff, ShipmentLedger, type ShipmentRecord, type ShipmentTx } from '../../persistence/shipment.ledger';
import { DELIVERY_OTP_CONFIG } from '../../tokens';
import { CodeVault } from '../code-vault';
import { codeNotifications } from '../code-notifications';
import { assertWindowOpen } from '../code-window';
import type { OutForDeliveryBody, ShipmentAnswer } from '../shipments.schemas';

export type OutForDelivery = OutForDeliveryBody & { shipmentId: string };

/**
 * Out for delivery: issue the handoff code, keep it sealed in Redis until the
 * window's end plus grace, and send it to the customer through the outbox.
 * The same shipment going out again while its code lives keeps the code (a
 * repeated call or event does not send a second one) and takes the new
 * window, courier and contact; after a cancel it gets a fresh code. Refused
 * (410) once the window has ended: the code could not reach the customer in
 * time.
 */
@Injectable()
export class IssueCode {
  constructor(
    private readonly store: CodeStore,
    private readonly ledger: ShipmentLedger,
    private readonly vault: CodeVault,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
    @Inject(DELIVERY_OTP_CONFIG) private readonly config: DeliveryOtpConfig,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
  ) {}

  async execute(input: OutForDelivery): Promise<ShipmentAnswer> {
    const windowStart = new Date(input.window.start);
    const windowEnd = new Date(input.window.end);
    const expiresAt = new Date(windowEnd.getTime() + this.config.code.graceMs);
    assertWindowOpen(windowEnd, this.clock.nowMs(), 'The delivery window has already ended.');
    return this.ledger.transaction(input.shipmentId, { lock: true }, async (tx) => {
      const existing = tx.shipment;
      if (existing?.status === 'handed_off') {
        throw alreadyHandedOff();
      }
      const record: ShipmentRecord = {
        id: input.shipmentId,
        orderId: input.orderId,
        accountId: input.accountId,
        merchantId: input.merchantId ?? null,
        courierId: input.courierId,
        phone: input.contact.phone ?? null,
        email: input.contact.email ?? null,
        locale: input.locale ?? existing?.locale ?? this.config.defaultLocale,
        windowStart,
        windowEnd,
        expiresAt,
        status: 'awaiting_handoff',
        codeGeneration: existing?.codeGeneration ?? 0,
        handedOffAt: null,
        handedOffDeviceId: null,
      };
      if (existing?.status === 'awaiting_handoff' && existing.accountId === input.accountId) {
        const kept = await this.store.reschedule(input.shipmentId, {
          windowStartMs: windowStart.getTime(),
          windowEndMs: windowEnd.getTime(),
          expiresAtMs: expiresAt.getTime(),
          courierId: input.courierId,
        });
        if (kept.verdict === 'already') {
          throw alreadyHandedOff();
        }
        if (kept.verdict === 'ok') {
          await tx.save(record);
          this.logger.info({ shipmentId: input.shipmentId, courierId: input.courierId }, 'out for delivery again; code kept');
          return answer(record);
        }
      }
      return issueFresh(tx, record, 'out_for_delivery', { store: this.store, vault: this.vault, clock: this.clock, logger: this.logger, metrics: this.metrics });
    });
  }
}

export interface IssueDeps {
  store: CodeStore;
  vault: CodeVault;
  clock: Clock;
  logger: Logger;
  metrics: MetricsService;
}

/**
 * Draws a new code for `record` (next generation), stores it and queues its
 * messages and the code_issued event in the caller's transaction. If the
 * transaction then fails, the stored code is revoked so no unsent code lives.
 */
export async function issueFresh(
  tx: ShipmentTx,
  base: ShipmentRecord,
  reason: 'out_for_delivery' | 'regenerated',
  deps: IssueDeps,
): Promise<ShipmentAnswer> {
  const record: ShipmentRecord = { ...base, status: 'awaiting_handoff', codeGeneration: base.codeGeneration + 1 };
  const material = deps.vault.draw(record.id, record.merchantId);
  await deps.store.put({
    shipmentId: record.id,
    accountId: record.accountId,
    courierId: record.courierId,
    windowStartMs: record.windowStart.getTime(),
    windowEndMs: record.windowEnd.getTime(),
    expiresAtMs: record.expiresAt.getTime(),
    generation: record.codeGeneration,
    sealed: material.sealed,
    hmacKeyId: material.hmacKeyId,
    hmac: material.hmac,
  });
  try {
    await tx.save(record);
    for (const message of codeNotifications(record, material.code, reason)) await tx.publish(notificationRequestedV1, message);
    await tx.publish(handoffCodeIssuedV1, {
      shipmentId: record.id,
      courierId: record.courierId,
      deviceId: null,
      at: deps.clock.now().toISOString(),
      expiresAt: record.expiresAt.toISOString(),
      reason,
    });
  } catch (error) {
    await deps.store.revoke(record.id).catch(() => undefined);
    throw error;
  }
  deps.metrics.counter('delivery_codes_issued_total', 'Handoff codes issued', ['reason']).inc({ reason });
  deps.logger.info({ shipmentId: record.id, courierId: record.courierId, generation: record.codeGeneration, reason }, 'handoff code issued');
  return answer(record);
}

export function answer(record: ShipmentRecord): ShipmentAnswer {
  return { shipmentId: record.id, status: record.status, expiresAt: record.expiresAt.toISOString() };
}
