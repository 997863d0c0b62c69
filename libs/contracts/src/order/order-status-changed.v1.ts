import { z } from 'zod';
import { locale } from '../common';
import { defineEvent } from '../define-event';

export const orderStatusChangedV1 = defineEvent({
  type: 'order.status_changed.v1',
  schema: z.object({
    orderId: z.string().min(1).max(100),
    accountId: z.string().min(1).max(100),
    status: z.enum(['confirmed', 'packed', 'shipped', 'out_for_delivery', 'delivered', 'cancelled', 'refunded']),
    locale: locale.default('en'),
    /** Bulk campaigns set `bulk`; ordinary status changes are `standard`. */
    priority: z.enum(['standard', 'bulk']).default('standard'),
  }),
  example: { orderId: 'ord_2001', accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10', status: 'shipped', locale: 'en', priority: 'standard' },
  routingSuffix: (data) => data.priority,
});
