import { randomUUID } from 'node:crypto';
import { checkChallengeV1, startChallengeV1 } from '@phonegate/contracts';
import { type OtpHarness, usNumber } from '../../support/otp-harness';

/**
 * identity's step-up of the account: a challenge it starts over the bus (to the account's own
 * factor: identity picks the destination) and checks with its code. Its id is the `stepUpId` a
 * factor change needs (S8); identity's step-up answer gives it as `challenge.id`.
 */
export async function approvedStepUp(h: OtpHarness, accountId: string): Promise<string> {
  const ref = randomUUID();
  const started = await h.identity.events.request(startChallengeV1, {
    purpose: 'step_up',
    channel: 'sms',
    to: usNumber(),
    accountId,
    ref,
  });
  const checked = await h.identity.events.request(checkChallengeV1, {
    challengeId: started.id,
    code: await h.code(started.id),
    purpose: 'step_up',
    ref,
  });
  if (checked.status !== 'approved') throw new Error(`step-up check: ${checked.status}`);
  return started.id;
}
