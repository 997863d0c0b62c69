import { z } from 'zod';
import { channel, uuid } from '../common';
import { defineEvent } from '../define-event';

const outcome = z.object({
  messageId: uuid,
  channel: channel.optional(),
  carrier: z.string().max(50).nullable(),
  attempts: z.number().int().min(0),
  reason: z.string().max(200).optional(),
  origin: z.object({ service: z.string().max(50), ref: z.string().max(200).optional() }).optional(),
});

const example = {
  messageId: '7e6d5c4b-3333-4a57-9a52-1d1c0f6a3b10',
  channel: 'sms' as const,
  carrier: 'smpp-a',
  attempts: 1,
  origin: { service: 'otp', ref: '3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b10' },
};

export const notificationSentV1 = defineEvent({ type: 'notification.sent.v1', schema: outcome, example });
export const notificationDeliveredV1 = defineEvent({ type: 'notification.delivered.v1', schema: outcome, example });
export const notificationFailedV1 = defineEvent({
  type: 'notification.failed.v1',
  schema: outcome,
  example: { ...example, reason: 'undeliverable' },
});
export const notificationDroppedV1 = defineEvent({
  type: 'notification.dropped.v1',
  schema: outcome,
  example: { ...example, carrier: null, reason: 'expired' },
});
