import { z } from 'zod';
import { e164, uuid } from '../common';
import { defineEvent } from '../define-event';

export const phoneAddedV1 = defineEvent({
  type: 'identity.phone.added.v1',
  schema: z.object({
    accountId: uuid,
    phoneId: uuid,
    e164,
    /** `add` for a new number, `change` when it will replace `replacesPhoneId`. */
    purpose: z.enum(['add', 'change']),
    replacesPhoneId: uuid.optional(),
  }),
  example: {
    accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10',
    phoneId: '5f0c7c1a-7a9e-4c57-8d0e-4a1c2b3d4e5f',
    e164: '+14155550123',
    purpose: 'add',
  },
  // The full number is never at rest on the bus in clear (L1): encrypted like a code.
  sensitive: ['e164'],
});
