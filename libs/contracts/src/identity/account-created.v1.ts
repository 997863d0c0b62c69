import { z } from 'zod';
import { locale, uuid } from '../common';
import { defineEvent } from '../define-event';

export const accountCreatedV1 = defineEvent({
  type: 'identity.account.created.v1',
  schema: z.object({ accountId: uuid, email: z.string().email(), locale }),
  example: { accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10', email: 'ana@example.com', locale: 'en' },
});
