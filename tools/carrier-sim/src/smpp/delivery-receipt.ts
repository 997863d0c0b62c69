import type { SimReceiptStatus } from '../sim.types';

/** message_state TLV values (SMPP 3.4 §5.2.28). WIRE VALUES. */
export const RECEIPT_MESSAGE_STATE: Record<SimReceiptStatus, number> = {
  delivered: 2,
  undelivered: 5,
  failed: 8,
  expired: 3,
};

/** `stat:` words of the de-facto receipt format (SMPP 3.4 Appendix B). WIRE VALUES. */
export const RECEIPT_STAT: Record<SimReceiptStatus, string> = {
  delivered: 'DELIVRD',
  undelivered: 'UNDELIV',
  failed: 'REJECTD',
  expired: 'EXPIRED',
};

function smppDate(d: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return (
    two(d.getUTCFullYear() % 100) +
    two(d.getUTCMonth() + 1) +
    two(d.getUTCDate()) +
    two(d.getUTCHours()) +
    two(d.getUTCMinutes())
  );
}

/**
 * The short_message of a delivery receipt:
 * `id:IIII sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD err:000 text:...`
 * The text is the first 20 characters of the message, reduced to letters, digits and spaces so
 * that it reads the same in GSM 03.38 and ASCII.
 */
export function formatDeliveryReceipt(r: {
  id: string;
  status: SimReceiptStatus;
  submittedAt: Date;
  doneAt: Date;
  text: string;
  /** An intermediate receipt's own `stat:` word (the knob `interimReceipt`): err 000, nothing delivered yet. */
  stat?: string;
}): string {
  const delivered = r.status === 'delivered' && r.stat === undefined;
  const ok = delivered || r.stat !== undefined;
  const text = r.text.replace(/[^A-Za-z0-9 ]/g, ' ').slice(0, 20);
  return (
    `id:${r.id} sub:001 dlvrd:${delivered ? '001' : '000'} submit date:${smppDate(r.submittedAt)} ` +
    `done date:${smppDate(r.doneAt)} stat:${r.stat ?? RECEIPT_STAT[r.status]} err:${ok ? '000' : '001'} text:${text}`
  );
}
