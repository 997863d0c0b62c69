import { z } from 'zod';
import { e164, uuid } from '../common';
import { defineEvent } from '../define-event';

const phoneState = z.object({ accountId: uuid, phoneId: uuid, e164, primary: z.boolean() });
/** The full number is never at rest on the bus in clear (L1): encrypted like a code. */
const sensitive = ['e164'];

export const phoneVerifiedV1 = defineEvent({
  type: 'identity.phone.verified.v1',
  schema: phoneState.extend({ replacedPhoneId: uuid.optional() }),
  example: {
    accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10',
    phoneId: '5f0c7c1a-7a9e-4c57-8d0e-4a1c2b3d4e5f',
    e164: '+14155550123',
    primary: true,
  },
  sensitive,
});

export const phonePrimaryChangedV1 = defineEvent({
  type: 'identity.phone.primary_changed.v1',
  schema: phoneState,
  example: {
    accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10',
    phoneId: '5f0c7c1a-7a9e-4c57-8d0e-4a1c2b3d4e5f',
    e164: '+14155550123',
    primary: true,
  },
  sensitive,
});

export const phoneRemovedV1 = defineEvent({
  type: 'identity.phone.removed.v1',
  schema: phoneState.extend({ reason: z.enum(['deregistered', 'replaced']) }),
  example: {
    accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10',
    phoneId: '5f0c7c1a-7a9e-4c57-8d0e-4a1c2b3d4e5f',
    e164: '+14155550123',
    primary: false,
    reason: 'deregistered',
  },
  sensitive,
});
