import type { ReceiptStatus } from '../carrier.types';

/**
 * `stat:` words of SMPP 3.4 Appendix B / SMPP 5.0 receipts, and the full state names (or a plain
 * FAILED) some centres write instead of the seven-letter word. WIRE VALUES.
 *
 * Final: DELIVRD, EXPIRED, DELETED, UNDELIV, UNKNOWN, REJECTD, SKIPPED (taken but never sent on
 * the network). Not final: ENROUTE, SCHEDULED (SMPP 5.0) and ACCEPTD — which SMPP calls final
 * (read by customer service) but aggregators send as "taken by the next hop", ahead of the real
 * outcome.
 */
const STAT: Record<string, ReceiptStatus> = {
  DELIVRD: 'delivered',
  DELIVERED: 'delivered',
  UNDELIV: 'undelivered',
  UNDELIVERABLE: 'undelivered',
  UNDELIVERED: 'undelivered',
  EXPIRED: 'expired',
  DELETED: 'failed',
  REJECTD: 'rejected',
  REJECTED: 'rejected',
  SKIPPED: 'failed',
  FAILED: 'failed',
  UNKNOWN: 'unknown',
  ACCEPTD: 'sent',
  ACCEPTED: 'sent',
  ENROUTE: 'sent',
  SCHEDULED: 'sent',
};

/** message_state TLV (SMPP 3.4 §5.2.28, SMPP 5.0 §4.7.15). WIRE VALUES. */
const MESSAGE_STATE: Record<number, ReceiptStatus> = {
  0: 'sent', // SCHEDULED (SMPP 5.0): delivery not started yet
  1: 'sent', // ENROUTE
  2: 'delivered', // DELIVERED
  3: 'expired', // EXPIRED
  4: 'failed', // DELETED
  5: 'undelivered', // UNDELIVERABLE
  6: 'sent', // ACCEPTED (see ACCEPTD above)
  7: 'unknown', // UNKNOWN (final: the centre will say no more)
  8: 'rejected', // REJECTED
  9: 'failed', // SKIPPED (SMPP 5.0): accepted but not transmitted on the network
};

export interface ParsedReceipt {
  /** The message_id the MC gave in submit_sm_resp. */
  id: string;
  status: ReceiptStatus;
  final: boolean;
  /** `stat` word and `err` code, e.g. `UNDELIV/001`. */
  errorCode?: string;
}

/**
 * Reads a delivery receipt (deliver_sm with esm_class bit 0x04): the TLVs
 * `receipted_message_id` / `message_state` when present, else the text
 * `id:… sub:… dlvrd:… submit date:… done date:… stat:DELIVRD err:000 text:…`.
 * Returns undefined when it is not a receipt we can read; one whose state is in neither table
 * (a centre's own word, none at all) is read as `unknown` and not final: such a message stays
 * `sent` until a receipt the tables know comes. The `text:` field (the message's first characters)
 * is never kept.
 */
export function parseDeliveryReceipt(input: {
  esmClass: number;
  shortMessage: string;
  receiptedMessageId?: string;
  messageState?: number;
}): ParsedReceipt | undefined {
  if ((input.esmClass & 0x3c) !== 0x04) return undefined;
  const field = (name: string): string | undefined =>
    new RegExp(`(?:^|\\s)${name}:([^\\s]*)`, 'i').exec(input.shortMessage)?.[1];
  const id = input.receiptedMessageId || field('id');
  if (!id) return undefined;
  const stat = field('stat')?.toUpperCase();
  const err = field('err');
  const fromState =
    input.messageState !== undefined ? MESSAGE_STATE[input.messageState] : undefined;
  const known = fromState ?? (stat ? STAT[stat] : undefined);
  const status = known ?? 'unknown';
  // Only a state known to be final ends a message (as for HTTP callbacks): a failure makes the
  // sender fall back to another channel and so send the code twice. A state or word this table
  // lacks (a centre's own word, none at all) is not an outcome.
  const final = known !== undefined && known !== 'sent';
  const errorCode =
    status === 'delivered'
      ? undefined
      : [stat, err && err !== '000' ? err : undefined].filter(Boolean).join('/') || undefined;
  return { id: normalizeMessageId(id), status, final, ...(errorCode ? { errorCode } : {}) };
}

/**
 * Ids are compared trimmed and lower-cased (MCs differ in the case of hex ids). Both the
 * accepted id and the receipt's id go through this, so they match.
 */
export function normalizeMessageId(id: string): string {
  return id.trim().toLowerCase();
}
