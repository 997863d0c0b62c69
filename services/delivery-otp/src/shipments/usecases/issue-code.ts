import { Inject, Injectable } from '@nestjs/common';
import { handoffCodeIssuedV1, notificationRequestedV1 } from '@phonegate/contracts';
import { Clock, type Logger, MetricsService, PLATFORM_LOGGER } from '@phonegate/platform';
import { CodeStore, type Reschedule } from '../../codes/code.store';
import type { DeliveryOtpConfig } from '../../config/delivery-otp.config';
import { alreadyHandedOff, ShipmentLedger, type ShipmentRecord, type ShipmentTx } from '../../persistence/shipment.ledger';
import { DELIVERY_OTP_CONFIG } from '../../tokens';
import { CodeUndo } from '../code-undo';
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
 * window, courier and contact; after a cancel it gets a fresh code. Going out
 * again for another account replaces the code (the old account can neither
 * read nor use it any more) but not the handoff's lock or spent attempts:
 * only the customer's regenerate or a support unlock lifts those. Refused
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
    const undo = new CodeUndo(this.store, this.ledger, this.logger);
    return undo.transaction(input.shipmentId, async (tx) => {
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
        // What the last code left (a cancel kept it here): a new code inherits it.
        handoffAttempts: existing?.handoffAttempts ?? 0,
        handoffLocked: existing?.handoffLocked ?? false,
        regenerations: existing?.regenerations ?? 0,
        lastCodeSentAt: existing?.lastCodeSentAt ?? null,
      };
      if (existing?.status === 'awaiting_handoff' && existing.accountId === input.accountId) {
        // Kept only if the store holds the very code the row names (account and generation).
        const kept = await this.store.reschedule(input.shipmentId, {
          windowStartMs: windowStart.getTime(),
          windowEndMs: windowEnd.getTime(),
          expiresAtMs: expiresAt.getTime(),
          courierId: input.courierId,
          expect: { accountId: existing.accountId, generation: existing.codeGeneration },
          previous: windowOf(existing),
        });
        if (kept.verdict === 'already') {
          throw alreadyHandedOff();
        }
        if (kept.verdict === 'ok') {
          // A failure from here puts the old window and courier back in the store (CodeUndo).
          undo.changed(input.shipmentId, kept.change, showsWindowOf(record));
          await tx.save(record);
          this.logger.info({ shipmentId: input.shipmentId, courierId: input.courierId }, 'out for delivery again; code kept');
          return answer(record);
        }
        if (kept.verdict === 'stale') this.logger.warn({ shipmentId: input.shipmentId, generation: existing.codeGeneration }, 'code store did not match the shipment; issuing afresh');
      }
      // A new account (or no live code, or not the row's): a fresh code, which keeps the handoff's lock and spent attempts.
      return issueFresh(tx, record, 'out_for_delivery', { store: this.store, vault: this.vault, clock: this.clock, logger: this.logger, metrics: this.metrics, undo });
    });
  }
}

/** The window and courier a shipment's row holds, as a reschedule's revert puts them back (Reschedule.previous). */
export function windowOf(row: ShipmentRecord): NonNullable<Reschedule['previous']> {
  return { windowStartMs: row.windowStart.getTime(), windowEndMs: row.windowEnd.getTime(), expiresAtMs: row.expiresAt.getTime(), courierId: row.courierId };
}

/** Whether a shipment's row shows `record`'s window and courier (a reschedule, or going out again keeping the code, committed). */
export function showsWindowOf(record: ShipmentRecord): (row: ShipmentRecord) => boolean {
  return (row) =>
    row.courierId === record.courierId &&
    row.windowStart.getTime() === record.windowStart.getTime() &&
    row.windowEnd.getTime() === record.windowEnd.getTime() &&
    row.expiresAt.getTime() === record.expiresAt.getTime();
}

export interface IssueDeps {
  store: CodeStore;
  vault: CodeVault;
  clock: Clock;
  logger: Logger;
  metrics: MetricsService;
  undo: CodeUndo;
}

/**
 * Draws a new code for `record` (next generation), queues its messages and
 * the code_issued event in the caller's transaction, then stores it, last, so
 * a failure before leaves the store untouched; a failure in or after the
 * store's write (its answer lost, the commit) is undone by `deps.undo`. The stored code keeps the lock, spent attempts
 * and regeneration count of the code it replaces, or, when the store holds none (after a cancel, an expiry or the
 * loss of Redis), those the row carries; a shipment handed off meanwhile is refused (409).
 * With `send: false` the code is stored but not sent (no SMS or e-mail; the app shows it), and it is no send for
 * the regenerate cooldown. `metricReason` labels delivery_codes_issued_total when it differs from the event's
 * reason (whose values the contract fixes), e.g. `replaced_lost` for a code the app issued for one Redis lost.
 */
export async function issueFresh(
  tx: ShipmentTx,
  base: ShipmentRecord,
  reason: 'out_for_delivery' | 'regenerated',
  deps: IssueDeps,
  options: { send?: boolean; metricReason?: string } = {},
): Promise<ShipmentAnswer> {
  const send = options.send ?? true;
  // A send: the regenerate cooldown runs from now (SECURITY C9).
  const record: ShipmentRecord = {
    ...base,
    status: 'awaiting_handoff',
    codeGeneration: base.codeGeneration + 1,
    lastCodeSentAt: send ? deps.clock.now() : base.lastCodeSentAt,
  };
  const material = deps.vault.draw(record.id, record.merchantId);
  await tx.save(record);
  if (send) for (const message of codeNotifications(record, material.code, reason)) await tx.publish(notificationRequestedV1, message);
  await tx.publish(handoffCodeIssuedV1, {
    shipmentId: record.id,
    courierId: record.courierId,
    deviceId: null,
    at: deps.clock.now().toISOString(),
    expiresAt: record.expiresAt.toISOString(),
    reason,
    sent: send,
  });
  deps.undo.issuing(record.id, { generation: record.codeGeneration, hmac: material.hmac });
  const stored = await deps.store.put({
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
    carry: {
      attempts: record.handoffAttempts,
      locked: record.handoffLocked,
      regenerations: record.regenerations,
      lastSentMs: record.lastCodeSentAt?.getTime() ?? 0,
    },
  });
  if (stored.verdict === 'already') {
    deps.undo.clear();
    throw alreadyHandedOff();
  }
  deps.undo.replaced(stored.replaced);
  deps.metrics.counter('delivery_codes_issued_total', 'Handoff codes issued', ['reason']).inc({ reason: options.metricReason ?? reason });
  deps.logger.info({ shipmentId: record.id, courierId: record.courierId, generation: record.codeGeneration, reason, sent: send, locked: stored.state === 'locked' }, 'handoff code issued');
  return answer(record);
}

export function answer(record: ShipmentRecord): ShipmentAnswer {
  return { shipmentId: record.id, status: record.status, expiresAt: record.expiresAt.toISOString() };
}
