import { z } from 'zod';
import { isoTime } from '../common';
import { defineEvent } from '../define-event';

const ref = z.string().min(1).max(100);
const handoff = z.object({
  shipmentId: ref,
  courierId: ref.nullable(),
  deviceId: ref.nullable(),
  at: isoTime,
});
const example = { shipmentId: 'shp_1001', courierId: 'cour_7', deviceId: 'dev_42', at: '2026-11-22T10:15:00.000Z' };

export const handoffCodeIssuedV1 = defineEvent({
  type: 'delivery.handoff.code_issued.v1',
  schema: handoff.extend({
    expiresAt: isoTime,
    reason: z.enum(['out_for_delivery', 'regenerated']),
    /**
     * Whether this code was sent to the customer (SMS, e-mail) as it was issued: false for a code
     * only shown in the customer's app (one replacing a code the store lost while no send is due).
     * Absent (earlier producers): sent.
     */
    sent: z.boolean().optional(),
  }),
  example: { ...example, deviceId: null, expiresAt: '2026-11-22T13:30:00.000Z', reason: 'out_for_delivery' },
});
export const handoffConfirmedV1 = defineEvent({
  type: 'delivery.handoff.confirmed.v1',
  schema: handoff.extend({ location: z.object({ lat: z.number(), lng: z.number() }).optional() }),
  example,
});
export const handoffFailedAttemptV1 = defineEvent({
  type: 'delivery.handoff.failed_attempt.v1',
  schema: handoff.extend({ attemptsLeft: z.number().int().min(0) }),
  example: { ...example, attemptsLeft: 4 },
});
export const handoffLockedV1 = defineEvent({ type: 'delivery.handoff.locked.v1', schema: handoff, example });
