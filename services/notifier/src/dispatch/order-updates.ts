import { createHash } from 'node:crypto';
import type { EventData, orderStatusChangedV1 } from '@phonegate/contracts';
import type { NotificationRequest } from './dispatch.service';

/** A UUID (version 5 layout) derived from a name, so a redelivered event maps to the same message. */
export function nameBasedUuid(name: string): string {
  const h = createHash('sha1').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * An order status change becomes an SMS to the account's primary verified
 * number (resolved and consent-checked by the dispatcher), at most once per
 * order and status.
 */
export function orderUpdateRequest(
  event: EventData<typeof orderStatusChangedV1>,
  eventId: string,
): NotificationRequest {
  return {
    messageId: nameBasedUuid(`order.status_changed:${eventId}`),
    priority: event.priority,
    channel: 'sms',
    accountId: event.accountId,
    template: `order.status_changed.${event.status}`,
    locale: event.locale,
    variables: { orderId: event.orderId },
    dedupeKey: `order:${event.orderId}:${event.status}`,
    origin: { service: 'storefront', ref: event.orderId },
  };
}
