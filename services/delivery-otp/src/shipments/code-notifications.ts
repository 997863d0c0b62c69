import { randomUUID } from 'node:crypto';
import type { EventData, notificationRequestedV1 } from '@phonegate/contracts';
import type { ShipmentRecord } from '../persistence/shipment.ledger';

export type NotificationRequest = EventData<typeof notificationRequestedV1>;

/** WIRE NAMES of the notifier templates this service asks for: never change them. */
export const TEMPLATES = {
  codeSms: 'delivery.handoff_code',
  codeEmail: 'delivery.handoff_code_email',
  handedOff: 'delivery.handed_off',
} as const;

const ORIGIN = 'delivery-otp';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

type Recipient = { to: string } | { accountId: string };

/** The account id travels only when it is a uuid, so the notifier can resolve a contact from it. */
function accountRecipient(shipment: ShipmentRecord): Recipient | undefined {
  return UUID.test(shipment.accountId) ? { accountId: shipment.accountId } : undefined;
}

/**
 * The messages that carry a handoff code to the customer: an SMS (critical;
 * `code` is a sensitive field, encrypted on the bus) and, for a first issue,
 * an e-mail. A regenerated code goes by SMS only (by e-mail when there is no
 * number). Neither may arrive after the window ends (`notAfter`).
 */
export function codeNotifications(shipment: ShipmentRecord, code: string, reason: 'out_for_delivery' | 'regenerated'): NotificationRequest[] {
  const variables = {
    code,
    windowStart: shipment.windowStart.toISOString(),
    windowEnd: shipment.windowEnd.toISOString(),
    orderId: shipment.orderId,
    shipmentId: shipment.id,
  };
  const base = (channel: 'sms' | 'email', template: string, recipient: Recipient): NotificationRequest => ({
    messageId: randomUUID(),
    priority: 'critical',
    channel,
    ...recipient,
    template,
    locale: shipment.locale,
    variables,
    notAfter: shipment.windowEnd.toISOString(),
    dedupeKey: `${ORIGIN}:${shipment.id}:${shipment.codeGeneration}:${channel}`,
    origin: { service: ORIGIN, ref: shipment.id },
  });
  const out: NotificationRequest[] = [];
  const smsTo: Recipient | undefined = shipment.phone ? { to: shipment.phone } : shipment.email ? undefined : accountRecipient(shipment);
  if (smsTo) out.push(base('sms', TEMPLATES.codeSms, smsTo));
  if (shipment.email && (reason === 'out_for_delivery' || out.length === 0)) {
    out.push(base('email', TEMPLATES.codeEmail, { to: shipment.email }));
  }
  return out;
}

/** The e-mail telling the customer the parcel was handed over. */
export function handedOffNotification(shipment: ShipmentRecord, at: Date): NotificationRequest | undefined {
  const recipient: Recipient | undefined = shipment.email ? { to: shipment.email } : accountRecipient(shipment);
  if (!recipient) return undefined;
  return {
    messageId: randomUUID(),
    priority: 'standard',
    channel: 'email',
    ...recipient,
    template: TEMPLATES.handedOff,
    locale: shipment.locale,
    variables: { orderId: shipment.orderId, shipmentId: shipment.id, handedOffAt: at.toISOString() },
    dedupeKey: `${ORIGIN}:${shipment.id}:handed_off`,
    origin: { service: ORIGIN, ref: shipment.id },
  };
}
