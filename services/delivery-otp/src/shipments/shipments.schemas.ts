import { deliveryWindow, e164, emailAddress } from '@phonegate/contracts';
import { z } from 'zod';
import { NOT_SMS_CAPABLE, smsCapable } from './contact-phone';

export const shipmentRef = z.string().min(1).max(100);

const window = deliveryWindow.refine((w) => Date.parse(w.end) > Date.parse(w.start), {
  message: 'window.end must be after window.start',
  path: ['end'],
});

export const outForDeliveryBody = z.object({
  orderId: shipmentRef,
  accountId: shipmentRef,
  merchantId: shipmentRef.optional(),
  contact: z.object({
    phone: e164.refine(smsCapable, NOT_SMS_CAPABLE).optional(),
    email: z.string().max(320).pipe(emailAddress).optional(),
  }),
  courierId: shipmentRef,
  window,
  locale: z.string().regex(/^[a-z]{2}(-[A-Z]{2})?$/).optional(),
});
export type OutForDeliveryBody = z.infer<typeof outForDeliveryBody>;

export const rescheduleBody = z.object({ window, courierId: shipmentRef.optional() });
export type RescheduleBody = z.infer<typeof rescheduleBody>;

export const cancelBody = z.object({ reason: z.string().max(200).optional() }).optional();

export const accountQuery = z.object({ accountId: shipmentRef });

export const regenerateBody = z.object({ accountId: shipmentRef.optional() }).optional();

export const shipmentParams = z.object({ shipmentId: shipmentRef });

/** The answer of every logistics and customer call about a shipment. */
export interface ShipmentAnswer {
  shipmentId: string;
  status: 'awaiting_handoff' | 'locked' | 'handed_off' | 'cancelled';
  expiresAt?: string;
}
