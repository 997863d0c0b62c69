import { z } from 'zod';
import { twoStepMethod, uuid } from '../common';
import { defineEvent } from '../define-event';

export const twoStepChangedV1 = defineEvent({
  type: 'identity.two_step.changed.v1',
  schema: z.object({
    accountId: uuid,
    enabled: z.boolean(),
    method: twoStepMethod.nullable(),
    backupMethod: twoStepMethod.nullable().optional(),
    reason: z.enum(['user', 'phone_removed']).optional(),
  }),
  example: { accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10', enabled: true, method: 'sms' },
});
