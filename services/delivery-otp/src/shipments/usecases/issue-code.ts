import { Inject, Injectable } from '@nestjs/common';
import { handoffCodeIssuedV1, notificationRequestedV1 } from '@phonegate/contracts';
import { Clock, type Logger, MetricsService, PLATFORM_LOGGER } from '@phonegate/platform';
import { CodeStore, type IssuedCode, type ReplacedCode } from '../../codes/code.store';
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
    return undo.onFailure(() => this.ledger.transaction(input.shipmentId, { lock: true }, async (tx) => {
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
        });
        if (kept.verdict === 'already') {
          throw alreadyHandedOff();
        }
        if (kept.verdict === 'ok') {
          await tx.save(record);
          this.logger.info({ shipmentId: input.shipmentId, courierId: input.courierId }, 'out for delivery again; code kept');
          return answer(record);
        }
        if (kept.verdict === 'stale') this.logger.warn({ shipmentId: input.shipmentId, generation: existing.codeGeneration }, 'code store did not match the shipment; issuing afresh');
      }
      // A new account (or no live code, or not the row's): a fresh code, which keeps the handoff's lock and spent attempts.
      return issueFresh(tx, record, 'out_for_delivery', { store: this.store, vault: this.vault, clock: this.clock, logger: this.logger, metrics: this.metrics, undo });
    }));
  }
}

export interface IssueDeps {
  store: CodeStore;
  vault: CodeVault;
  clock: Clock;
  logger: Logger;
  metrics: MetricsService;
  undo: CodeUndo;
}

/** How long an undo waits for the shipment's lock to learn whether the commit went through. */
export const UNDO_VERIFY_TIMEOUT_MS = 5_000;

/**
 * Puts the store back if a unit of work that wrote a code to it (issue,
 * regenerate) fails, in its work or its commit. A failed commit is not proof
 * of a rollback (the connection may drop while COMMIT is answered), so the
 * undo first reads the shipment's row under its lock, in a new transaction
 * (which waits for the failed one to end either way):
 * - the row names the issued generation (or a later one, or a handoff): it
 *   committed, the store is left as it is;
 * - it does not: the issued code is withdrawn and the one it replaced comes
 *   back with its account, attempts and lock (restore); if what it replaced
 *   is unknown (the store's answer was lost) the issued code is only made
 *   unusable and unreadable (withdraw), keeping the attempts and the lock;
 * - the row cannot be read (database down, the lock not had within
 *   UNDO_VERIFY_TIMEOUT_MS): withdraw, as either outcome is possible.
 * Both act only while the store still holds the very code issued (its
 * generation and HMAC). What withdraw leaves, and any state a crash leaves,
 * is repaired by the next issue (which compares the store with the row) or
 * the customer's regenerate. Run the whole transaction inside onFailure().
 */
export class CodeUndo {
  private pending: { shipmentId: string; issued: IssuedCode; replaced?: ReplacedCode } | undefined;

  constructor(
    private readonly store: CodeStore,
    private readonly ledger: ShipmentLedger,
    private readonly logger: Logger,
  ) {}

  /** Before writing `issued` to the store: from here a failure undoes it. */
  issuing(shipmentId: string, issued: IssuedCode): void {
    this.pending = { shipmentId, issued };
  }

  /** The store answered what the write replaced. */
  replaced(replaced: ReplacedCode): void {
    if (this.pending) this.pending = { ...this.pending, replaced };
  }

  /** The store refused the write: nothing to undo. */
  clear(): void {
    this.pending = undefined;
  }

  async onFailure<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      await this.undo().catch(() => undefined);
      throw error;
    }
  }

  private async undo(): Promise<void> {
    const pending = this.pending;
    if (!pending) return;
    const { shipmentId, issued, replaced } = pending;
    let abandoned = false;
    const verified = this.ledger.transaction(shipmentId, { lock: true }, async (tx) => {
      if (abandoned) return 'abandoned';
      const row = tx.shipment;
      if (row && (row.codeGeneration >= issued.generation || row.status === 'handed_off')) return 'committed';
      if (!replaced) return (await this.store.withdraw(shipmentId, issued)) ? 'withdrawn' : 'left';
      return (await this.store.restore(shipmentId, issued, replaced)) ? 'restored' : 'left';
    });
    verified.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('undo verification timed out')), UNDO_VERIFY_TIMEOUT_MS);
    });
    let outcome: string;
    try {
      outcome = await Promise.race([verified, timeout]);
    } catch {
      abandoned = true;
      outcome = (await this.store.withdraw(shipmentId, issued).catch(() => false)) ? 'withdrawn, unverified' : 'left, unverified';
    } finally {
      clearTimeout(timer);
    }
    this.logger.warn({ shipmentId, generation: issued.generation, outcome }, 'code write undone after a failed transaction');
  }
}

/**
 * Draws a new code for `record` (next generation), queues its messages and
 * the code_issued event in the caller's transaction, then stores it, last, so
 * a failure before leaves the store untouched; a failure in or after the
 * store's write (its answer lost, the commit) is undone by `deps.undo`. The stored code keeps the lock, spent attempts
 * and regeneration count of the code it replaces, or, when the store holds none (after a cancel, an expiry or the
 * loss of Redis), those the row carries; a shipment handed off meanwhile is refused (409).
 */
export async function issueFresh(
  tx: ShipmentTx,
  base: ShipmentRecord,
  reason: 'out_for_delivery' | 'regenerated',
  deps: IssueDeps,
): Promise<ShipmentAnswer> {
  // A send: the regenerate cooldown runs from now (SECURITY C9).
  const record: ShipmentRecord = { ...base, status: 'awaiting_handoff', codeGeneration: base.codeGeneration + 1, lastCodeSentAt: deps.clock.now() };
  const material = deps.vault.draw(record.id, record.merchantId);
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
  deps.metrics.counter('delivery_codes_issued_total', 'Handoff codes issued', ['reason']).inc({ reason });
  deps.logger.info({ shipmentId: record.id, courierId: record.courierId, generation: record.codeGeneration, reason, locked: stored.state === 'locked' }, 'handoff code issued');
  return answer(record);
}

export function answer(record: ShipmentRecord): ShipmentAnswer {
  return { shipmentId: record.id, status: record.status, expiresAt: record.expiresAt.toISOString() };
}
