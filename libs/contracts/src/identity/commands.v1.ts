import { z } from 'zod';
import { uuid } from '../common';
import { defineCommand } from '../define-command';

/**
 * Whether identity knows an account: the otp service asks it before it keeps a factor (TOTP
 * authenticator, backup codes) for an account whose `identity.account.created.v1` it has not
 * seen (an account made a moment ago, or before otp kept a list of accounts). `exists` is false
 * for an id identity never issued; the reply says nothing else of the account.
 */
export const accountExistsV1 = defineCommand({
  pattern: 'identity.account.exists.v1',
  request: z.object({ accountId: uuid }),
  response: z.object({ accountId: uuid, exists: z.boolean() }),
  exampleRequest: { accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10' },
  exampleResponse: { accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10', exists: true },
});
