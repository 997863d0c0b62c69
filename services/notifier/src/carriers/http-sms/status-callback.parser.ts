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

/** The status word of a status callback (`MessageStatus`, `SmsStatus` or `CallStatus`), lower case. */
export function callbackStatusOf(params: Readonly<Record<string, string | undefined>>): string {
  const messageSid = params['MessageSid'] ?? params['SmsSid'];
  return (
    (messageSid ? (params['MessageStatus'] ?? params['SmsStatus']) : params['CallStatus']) ?? ''
  ).toLowerCase();
}

/**
 * A status callback's form parameters as a receipt: messages (`MessageSid`, `MessageStatus`)
 * and calls (`CallSid`, `CallStatus`), with `ErrorCode` when given. Undefined when it carries
 * neither. Intermediate statuses come back with `final: false`, and so do unknown or empty
 * ones (`scheduled`, `receiving`, a word added after this table): only a status known to be
 * final ends a message, as a failure here makes the sender fall back to another channel and
 * so send the code a second time.
 */
export function parseStatusCallback(
  carrierId: string,
  params: Readonly<Record<string, string | undefined>>,
  at = new Date(),
): CarrierReceipt | undefined {
  const messageSid = params['MessageSid'] ?? params['SmsSid'];
  const sid = messageSid ?? params['CallSid'];
  if (!sid) return undefined;
  const word = callbackStatusOf(params);
  const status = (messageSid ? MESSAGE_STATUS[word] : CALL_STATUS[word]) ?? 'unknown';
  const errorCode =
    params['ErrorCode'] ||
    (status === 'delivered' || status === 'sent' ? undefined : word || undefined);
  return {
    carrierId,
    providerMessageId: sid,
    status,
    final: status !== 'sent' && status !== 'unknown',
    ...(errorCode ? { errorCode } : {}),
    at,
  };
}
