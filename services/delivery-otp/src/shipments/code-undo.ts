import type { Logger } from '@phonegate/platform';
import type { AppliedChange, CodeStore, IssuedCode, ReplacedCode } from '../codes/code.store';
import type { ShipmentLedger, ShipmentRecord, ShipmentTx } from '../persistence/shipment.ledger';

/** How long an undo waits for the shipment's lock to learn whether the commit went through. */
export const UNDO_VERIFY_TIMEOUT_MS = 5_000;

type Pending =
  | { kind: 'issue'; shipmentId: string; issued: IssuedCode; replaced?: ReplacedCode }
  | { kind: 'change'; shipmentId: string; change: AppliedChange; committed?: (row: ShipmentRecord) => boolean };

/**
 * Puts the store back if a unit of work on a shipment that changed its live
 * code in Redis fails, in its work or its commit, so a failed unit of work
 * leaves the store as it was: the caller gets its error (503 for a database
 * outage) and nothing changed.
 *
 * Why Redis first and undo, rather than commit first and change Redis after:
 * a crash between the two steps must fail closed. Commit-first would leave,
 * after a crash, a cancelled shipment whose code still opens the door (every
 * handoff would then have to ask PostgreSQL too). Redis-first leaves at most
 * a shipment still out for delivery whose code is gone (a cancel), or a
 * window, courier or unlock not yet on the row (a reschedule, an unlock);
 * the lock and spent attempts are also on the shipment's row (mirrored at
 * each wrong code), so no crash lifts a lock, and the caller, who got no
 * answer, retries. A failure the process sees is undone here:
 *
 * - The work failed (a statement, the connection, the store; the COMMIT was
 *   never sent): it rolled back for sure, so the store is put back at once,
 *   without asking the database (which may be down).
 * - The COMMIT failed: not proof of a rollback (the connection may drop while
 *   COMMIT is answered), so the undo first reads the shipment's row under its
 *   lock, in a new transaction (which waits for the failed one to end either
 *   way). The row shows the unit of work (a cancel: cancelled; a reschedule:
 *   the new window and courier; an issue: the issued generation or a later
 *   one, or a handoff): it committed, the store is left as it is. Else the
 *   store is put back. An unlock is put back whatever the row says (the lock
 *   comes back: fail closed; support sees the 503 and unlocks again).
 * - The row cannot be read (database down, the lock not had within
 *   UNDO_VERIFY_TIMEOUT_MS): either outcome is possible. An issued code is
 *   withdrawn (unusable and unreadable, attempts and lock kept); a revoked
 *   one comes back withdrawn too (its attempts, lock and regenerations, not
 *   the code), so no code opens the door of a shipment that may be cancelled;
 *   a reschedule or an unlock is put back (the caller retries on the 503).
 *
 * Issue and regenerate: the issued code is withdrawn and the one it replaced
 * comes back with its account, attempts and lock (restore); if what it
 * replaced is unknown (the store's answer was lost) the issued code is only
 * withdrawn. Every undo acts only while the store still shows that very
 * change (an issued code's generation and HMAC; a change's token, one per
 * kind of change, see update.lua and revert.lua), so it never undoes anything
 * later: an unlock and a reschedule that interleave (one waiting for the lock
 * while the other's undo is pending) each put back only their own fields. What withdraw leaves, and
 * any state a crash leaves, is repaired by the next issue (which compares the
 * store with the row) or the customer's regenerate.
 *
 * Run the whole unit of work through transaction().
 */
export class CodeUndo {
  private pending: Pending | undefined;
  /** The work returned: a failure from here on is the COMMIT's. */
  private workDone = false;

  constructor(
    private readonly store: CodeStore,
    private readonly ledger: ShipmentLedger,
    private readonly logger: Logger,
  ) {}

  /** Before writing `issued` to the store: from here a failure undoes it. */
  issuing(shipmentId: string, issued: IssuedCode): void {
    this.pending = { kind: 'issue', shipmentId, issued };
  }

  /** The store answered what the write replaced. */
  replaced(replaced: ReplacedCode): void {
    if (this.pending?.kind === 'issue') this.pending = { ...this.pending, replaced };
  }

  /**
   * The store applied `change` (a revoke, reschedule or unlock): a failure
   * from here reverts it, unless `committed` (when given) finds the unit of
   * work in the shipment's row after a failed COMMIT.
   */
  changed(shipmentId: string, change: AppliedChange, committed?: (row: ShipmentRecord) => boolean): void {
    this.pending = { kind: 'change', shipmentId, change, ...(committed ? { committed } : {}) };
  }

  /** The store refused the write: nothing to undo. */
  clear(): void {
    this.pending = undefined;
  }

  /**
   * The unit of work on `shipmentId` under its lock, undone in the store if it
   * fails; once it committed, a change's token is dropped (settled), so the
   * store shows no pending change and no later revert of it applies.
   */
  async transaction<T>(shipmentId: string, work: (tx: ShipmentTx) => Promise<T>): Promise<T> {
    const result = await this.onFailure(() =>
      this.ledger.transaction(shipmentId, { lock: true }, async (tx) => {
        const result = await work(tx);
        this.workDone = true;
        return result;
      }),
    );
    await this.settle();
    return result;
  }

  /**
   * Best effort: a token left (the store failed here, or a crash) only keeps
   * the change revertible by its own undo, which never runs for a committed
   * change, and makes a wrong code's mirror wait a moment (confirm-handoff.ts).
   */
  private async settle(): Promise<void> {
    const pending = this.pending;
    if (pending?.kind !== 'change') return;
    await this.store.settle(pending.shipmentId, pending.change).catch((error: unknown) => {
      this.logger.warn({ shipmentId: pending.shipmentId, change: pending.change.kind, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }, 'code store change not settled');
    });
  }

  private async onFailure<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      await this.undo().catch((undoError: unknown) => {
        this.logger.error({ error: undoError instanceof Error ? `${undoError.name}: ${undoError.message}` : String(undoError) }, 'code store undo failed');
      });
      throw error;
    }
  }

  private async undo(): Promise<void> {
    const pending = this.pending;
    if (!pending) return;
    const { shipmentId } = pending;
    let outcome: string;
    if (!this.workDone) {
      // The COMMIT was never sent: rolled back for sure.
      outcome = await this.putBack(pending);
    } else if (pending.kind === 'change' && !pending.committed) {
      // Put back whatever the row says (an unlock: the lock comes back).
      outcome = await this.putBack(pending);
    } else {
      outcome = await this.verified(pending);
    }
    const generation = pending.kind === 'issue' ? pending.issued.generation : undefined;
    const change = pending.kind === 'change' ? pending.change.kind : 'issue';
    this.logger.warn({ shipmentId, change, generation, outcome }, 'code store change undone after a failed transaction');
  }

  /** Puts the store back as it was before the unit of work. */
  private async putBack(pending: Pending): Promise<string> {
    if (pending.kind === 'change') return (await this.store.revert(pending.shipmentId, pending.change, 'restore')) ? 'restored' : 'left';
    if (!pending.replaced) return (await this.store.withdraw(pending.shipmentId, pending.issued)) ? 'withdrawn' : 'left';
    return (await this.store.restore(pending.shipmentId, pending.issued, pending.replaced)) ? 'restored' : 'left';
  }

  /** After a failed COMMIT: the row under the shipment's lock decides; unreadable, the safe half-way. */
  private async verified(pending: Pending): Promise<string> {
    const { shipmentId } = pending;
    let abandoned = false;
    const verified = this.ledger.transaction(shipmentId, { lock: true }, async (tx) => {
      if (abandoned) return 'abandoned';
      const row = tx.shipment;
      if (row && committed(pending, row)) return 'committed';
      return this.putBack(pending);
    });
    verified.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('undo verification timed out')), UNDO_VERIFY_TIMEOUT_MS);
    });
    try {
      return await Promise.race([verified, timeout]);
    } catch {
      abandoned = true;
      // Either outcome is possible: an issued or revoked code comes back unusable (the cancel may have committed); a reschedule or unlock is put back.
      const withdraw = pending.kind === 'issue' || pending.change.kind === 'revoke';
      const done = pending.kind === 'issue'
        ? this.store.withdraw(shipmentId, pending.issued)
        : this.store.revert(shipmentId, pending.change, withdraw ? 'withdraw' : 'restore');
      return (await done.catch(() => false)) ? `${withdraw ? 'withdrawn' : 'restored'}, unverified` : 'left, unverified';
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Whether the shipment's row shows the unit of work committed. */
function committed(pending: Pending, row: ShipmentRecord): boolean {
  if (pending.kind === 'change') return pending.committed?.(row) ?? false;
  return row.codeGeneration >= pending.issued.generation || row.status === 'handed_off';
}
