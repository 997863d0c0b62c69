import type { CarrierReceipt, ReceiptStatus } from '../carrier.types';

/** Vendor message statuses (MessageStatus). WIRE VALUES. */
const MESSAGE_STATUS: Record<string, ReceiptStatus> = {
  queued: 'sent',
  accepted: 'sent',
  sending: 'sent',
  sent: 'sent',
  delivered: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
  canceled: 'failed',
};

/** Vendor call statuses (CallStatus). WIRE VALUES. */
const CALL_STATUS: Record<string, ReceiptStatus> = {
  queued: 'sent',
  initiated: 'sent',
  ringing: 'sent',
  'in-progress': 'sent',
  completed: 'delivered',
  busy: 'undelivered',
  'no-answer': 'undelivered',
  failed: 'failed',
  canceled: 'failed',
};

/**
 * A status callback's form parameters as a receipt: messages (`MessageSid`, `MessageStatus`)
 * and calls (`CallSid`, `CallStatus`), with `ErrorCode` when given. Undefined when it carries
 * neither. Intermediate statuses come back with `final: false`.
 */
export function parseStatusCallback(
  carrierId: string,
  params: Readonly<Record<string, string | undefined>>,
  at = new Date(),
): CarrierReceipt | undefined {
  const messageSid = params['MessageSid'] ?? params['SmsSid'];
  const callSid = params['CallSid'];
  const sid = messageSid ?? callSid;
  if (!sid) return undefined;
  const word =
    (messageSid
      ? (params['MessageStatus'] ?? params['SmsStatus'])
      : params['CallStatus']
    )?.toLowerCase() ?? '';
  const status = (messageSid ? MESSAGE_STATUS[word] : CALL_STATUS[word]) ?? 'unknown';
  const errorCode =
    params['ErrorCode'] ||
    (status === 'delivered' || status === 'sent' ? undefined : word || undefined);
  return {
    carrierId,
    providerMessageId: sid,
    status,
    final: status !== 'sent',
    ...(errorCode ? { errorCode } : {}),
    at,
  };
}
