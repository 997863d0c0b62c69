import { z } from 'zod';
import { challengePurpose, otpChannel, uuid } from '../common';
import { defineEvent } from '../define-event';

const challengeState = z.object({
  challengeId: uuid,
  purpose: challengePurpose,
  /** What the challenge is about: an account, and/or a phone. Never the code. */
  subject: z.object({ accountId: uuid.optional(), phoneId: uuid.optional(), ref: z.string().max(200).optional() }),
  channel: otpChannel,
  attemptsLeft: z.number().int().min(0),
});

const example = {
  challengeId: '3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b10',
  purpose: 'sign_in' as const,
  subject: { accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10' },
  channel: 'sms' as const,
  attemptsLeft: 5,
};

export const challengeCreatedV1 = defineEvent({ type: 'otp.challenge.created.v1', schema: challengeState, example });
export const challengeApprovedV1 = defineEvent({ type: 'otp.challenge.approved.v1', schema: challengeState, example });
export const challengeFailedAttemptV1 = defineEvent({
  type: 'otp.challenge.failed_attempt.v1',
  schema: challengeState.extend({ consecutiveFailures: z.number().int().min(0).optional() }),
  example: { ...example, attemptsLeft: 4, consecutiveFailures: 1 },
});
export const challengeLockedV1 = defineEvent({
  type: 'otp.challenge.locked.v1',
  schema: challengeState,
  example: { ...example, attemptsLeft: 0 },
});
export const challengeExpiredV1 = defineEvent({ type: 'otp.challenge.expired.v1', schema: challengeState, example });
