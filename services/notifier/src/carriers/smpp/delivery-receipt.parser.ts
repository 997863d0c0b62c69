import type { ReceiptStatus } from '../carrier.types';

/** `stat:` words of SMPP 3.4 Appendix B receipts. WIRE VALUES. */
const STAT: Record<string, ReceiptStatus> = {
  DELIVRD: 'delivered',
  UNDELIV: 'undelivered',
  EXPIRED: 'expired',
  DELETED: 'failed',
  REJECTD: 'rejected',
  UNKNOWN: 'unknown',
  ACCEPTD: 'sent',
  ENROUTE: 'sent',
};

/** message_state TLV (§5.2.28). WIRE VALUES. */
const MESSAGE_STATE: Record<number, ReceiptStatus> = {
  1: 'sent',
  2: 'delivered',
  3: 'expired',
  4: 'failed',
  5: 'undelivered',
  6: 'sent',
  7: 'unknown',
  8: 'rejected',
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
 * Returns undefined when it is not a receipt we can read; one whose state is not in the tables
 * below is read as `unknown` and not final. The `text:` field (the message's first characters)
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
  // lacks (SMPP 5.0's SCHEDULED, a centre's own word, none at all) is not an outcome.
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
