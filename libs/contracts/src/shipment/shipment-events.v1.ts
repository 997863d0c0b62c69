import { z } from 'zod';
import { deliveryWindow, e164 } from '../common';
import { defineEvent } from '../define-event';

const ref = z.string().min(1).max(100);

export const shipmentOutForDeliveryV1 = defineEvent({
  type: 'shipment.out_for_delivery.v1',
  schema: z.object({
    shipmentId: ref,
    orderId: ref,
    accountId: ref,
    merchantId: ref.optional(),
    contact: z.object({ phone: e164.optional(), email: z.string().email().optional() }),
    courierId: ref,
    window: deliveryWindow,
  }),
  example: {
    shipmentId: 'shp_1001',
    orderId: 'ord_2001',
    accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10',
    contact: { phone: '+14155550123', email: 'ana@example.com' },
    courierId: 'cour_7',
    window: { start: '2026-11-22T09:00:00.000Z', end: '2026-11-22T13:00:00.000Z' },
  },
  // The full number is never at rest on the bus in clear (L1). Publishers outside phonegate that
  // still send it in clear (not listed in the envelope's `sensitive`) are accepted.
  sensitive: ['contact.phone'],
});

export const shipmentRescheduledV1 = defineEvent({
  type: 'shipment.rescheduled.v1',
  schema: z.object({ shipmentId: ref, window: deliveryWindow, courierId: ref.optional() }),
  example: {
    shipmentId: 'shp_1001',
    window: { start: '2026-11-23T09:00:00.000Z', end: '2026-11-23T13:00:00.000Z' },
    courierId: 'cour_8',
  },
});

export const shipmentCancelledV1 = defineEvent({
  type: 'shipment.cancelled.v1',
  schema: z.object({ shipmentId: ref, reason: z.string().max(200).optional() }),
  example: { shipmentId: 'shp_1001' },
});
