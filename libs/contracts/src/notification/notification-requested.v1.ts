import { z } from 'zod';
import { channel, isoTime, locale, priority, uuid } from '../common';
import { defineEvent } from '../define-event';

/**
 * A request to send one message. Codes travel in `variables.code`, which is a
 * sensitive field: encrypted on the bus, never logged, never stored in clear;
 * so do `variables.reportUrl` (it holds a token) and `to` (a full number).
 */
export const notificationRequestedV1 = defineEvent({
  type: 'notification.requested.v1',
  schema: z.object({
    messageId: uuid,
    priority,
    channel,
    /** E.164 for sms/voice, an address for email; or resolved from accountId by the notifier. */
    to: z.string().min(3).max(320).optional(),
    accountId: uuid.optional(),
    template: z.string().regex(/^[a-z][a-z0-9_.]*$/).max(100),
    locale: locale.default('en'),
    variables: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
    notAfter: isoTime.optional(),
    dedupeKey: z.string().max(200).optional(),
    /** Who asked, so outcomes can be routed back (e.g. the challenge id). */
    origin: z.object({ service: z.string().max(50), ref: z.string().max(200).optional() }).optional(),
  }),
  example: {
    messageId: '7e6d5c4b-3333-4a57-9a52-1d1c0f6a3b10',
    priority: 'critical',
    channel: 'sms',
    to: '+14155550123',
    template: 'otp.sign_in',
    locale: 'en',
    variables: {
      code: '123456',
      host: 'shop.example.com',
      minutes: 5,
      reportUrl: 'https://shop.example.com/v1/verifications/3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b10/report?t=k1.c2lnbmF0dXJl',
    },
    notAfter: '2026-11-22T10:05:00.000Z',
    dedupeKey: 'otp:3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b10:1',
    origin: { service: 'otp', ref: '3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b10' },
  },
  // reportUrl carries a bearer token (the "I didn't ask for this" link): encrypted like the code;
  // `to` is a full phone number (or an address), never at rest on the bus in clear (L1).
  sensitive: ['to', 'variables.code', 'variables.reportUrl'],
  routingSuffix: (data) => data.priority,
});
