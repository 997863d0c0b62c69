import { z } from 'zod';
import { uuid } from '../common';
import { defineEvent } from '../define-event';

export const signinChallengedV1 = defineEvent({
  type: 'identity.signin.challenged.v1',
  schema: z.object({
    accountId: uuid,
    loginId: uuid,
    device: z.object({ id: z.string().min(1).max(200), name: z.string().max(200).optional() }),
    ip: z.string().max(64),
    reason: z.enum(['new_device', 'new_location']),
  }),
  example: {
    accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10',
    loginId: '9d1b2c3a-1111-4a57-9a52-1d1c0f6a3b10',
    device: { id: 'dev-1', name: 'Pixel 9' },
    ip: '203.0.113.7',
    reason: 'new_device',
  },
});
