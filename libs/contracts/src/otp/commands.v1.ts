import { z } from 'zod';
import { challengePurpose, channel, isoTime, locale, uuid } from '../common';
import { defineCommand } from '../define-command';

const challengeView = z.object({
  id: uuid,
  status: z.enum(['pending', 'approved', 'expired', 'locked']),
  purpose: challengePurpose,
  channel,
  /** Masked destination, e.g. `+1 ••• ••• ••23`. */
  to: z.string(),
  expiresAt: isoTime,
  resendAvailableAt: isoTime,
  attemptsRemaining: z.number().int().min(0),
  sends: z.number().int().min(0),
  /** Channels the caller may switch to with a resend (pending challenges). */
  alternatives: z.array(channel).optional(),
  /** The last send's failure as the notifier reported it, if it failed. */
  delivery: z
    .object({ status: z.enum(['failed', 'dropped']), channel, reason: z.string().max(200).optional(), at: isoTime })
    .optional(),
  /** Why a challenge ended early, e.g. `reported` ("I didn't ask for this"). */
  endReason: z.string().max(50).optional(),
  /**
   * The owner reported the code ("I didn't ask for this"), whenever that was: also after the
   * challenge had already ended (expired, locked, approved), when `endReason` stays what it was.
   * Absent when not reported (and from an otp service older than the field).
   */
  reported: z.literal(true).optional(),
});
export type ChallengeView = z.infer<typeof challengeView>;

const exampleView: ChallengeView = {
  id: '3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b10',
  status: 'pending',
  purpose: 'phone_verification',
  channel: 'sms',
  to: '+1 ••• ••• ••23',
  expiresAt: '2026-11-22T10:10:00.000Z',
  resendAvailableAt: '2026-11-22T10:00:30.000Z',
  attemptsRemaining: 5,
  sends: 1,
};

/**
 * Start a challenge and send its first code. A `password_reset` start repeated for a `ref` whose
 * earlier code its owner reported answers 410 `code_expired` with `reason: 'reported'` (the caller
 * ends that reset: no second code).
 */
export const startChallengeV1 = defineCommand({
  pattern: 'otp.challenge.start.v1',
  request: z.object({
    purpose: challengePurpose,
    channel,
    /** E.164 number or e-mail address. */
    to: z.string().min(3).max(320),
    accountId: uuid.optional(),
    phoneId: uuid.optional(),
    /** Caller's own reference (login id, reset id) the code is bound to. */
    ref: z.string().max(200).optional(),
    locale: locale.optional(),
    clientIp: z.string().max(64).optional(),
    /** Whether line-type checks for two-step apply (VoIP/premium refused). */
    twoStep: z.boolean().optional(),
  }),
  response: challengeView,
  exampleRequest: {
    purpose: 'phone_verification',
    channel: 'sms',
    to: '+14155550123',
    accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10',
    phoneId: '5f0c7c1a-7a9e-4c57-8d0e-4a1c2b3d4e5f',
  },
  exampleResponse: exampleView,
  // A full number (or an address): encrypted while it waits in the RPC queue (L1).
  sensitive: ['to'],
});

/** Check a code. Errors: code_mismatch, code_expired, too_many_attempts, not_found. */
export const checkChallengeV1 = defineCommand({
  pattern: 'otp.challenge.check.v1',
  request: z.object({
    challengeId: uuid,
    code: z.string().min(1).max(64),
    /** The check must be for this purpose and reference (C6). */
    purpose: challengePurpose,
    ref: z.string().max(200).optional(),
  }),
  response: challengeView,
  exampleRequest: { challengeId: exampleView.id, code: '123456', purpose: 'phone_verification' },
  exampleResponse: { ...exampleView, status: 'approved' },
  sensitive: ['code'],
});

/** Resend (optionally on another channel / destination). */
export const resendChallengeV1 = defineCommand({
  pattern: 'otp.challenge.resend.v1',
  request: z.object({
    challengeId: uuid,
    channel: channel.optional(),
    /** Needed when switching channel to one with another destination (e-mail). */
    to: z.string().min(3).max(320).optional(),
    clientIp: z.string().max(64).optional(),
  }),
  response: challengeView,
  exampleRequest: { challengeId: exampleView.id, channel: 'voice' },
  exampleResponse: { ...exampleView, channel: 'voice', sends: 2 },
  sensitive: ['to'],
});

export const getChallengeV1 = defineCommand({
  pattern: 'otp.challenge.get.v1',
  request: z.object({ challengeId: uuid }),
  response: challengeView,
  exampleRequest: { challengeId: exampleView.id },
  exampleResponse: exampleView,
});

/**
 * Verify a TOTP or backup code for an account (sign-in, step-up). A wrong code answers 422
 * `code_mismatch` and counts; a right code already used (a TOTP step taken, a backup code spent:
 * e.g. the copy of a double-tapped submit) answers 410 `code_expired` and counts nothing.
 */
export const verifyFactorV1 = defineCommand({
  pattern: 'otp.factor.verify.v1',
  request: z.object({
    accountId: uuid,
    kind: z.enum(['totp', 'backup_code']),
    code: z.string().min(1).max(64),
    purpose: challengePurpose,
  }),
  response: z.object({ approved: z.literal(true) }),
  exampleRequest: { accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10', kind: 'totp', code: '287082', purpose: 'sign_in' },
  exampleResponse: { approved: true },
  sensitive: ['code'],
});

/** Which non-phone factors an account has ready. */
export const getFactorsV1 = defineCommand({
  pattern: 'otp.factors.get.v1',
  request: z.object({ accountId: uuid }),
  response: z.object({ totp: z.boolean(), backupCodes: z.number().int().min(0) }),
  exampleRequest: { accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10' },
  exampleResponse: { totp: true, backupCodes: 10 },
});

/**
 * Spend identity's step-up (SECURITY S8): one approved step-up code allows one change, at identity
 * (its stepUpId) or at otp (its challenge id, for a factor replacement), never one at each. identity
 * asks this before a change it holds a step-up for; otp marks the challenge used in the same Redis
 * step its own factor changes take it with, so of all the changes given one approval exactly one
 * gets it. Only a challenge of purpose step_up for `accountId`, started over the bus, approved in
 * the last step-up window (5 minutes) and not used yet is taken; otherwise step_up_required.
 * `token` is the caller's (a fresh UUID per take): the same take retried is answered the same, and
 * only the token gives it back.
 */
export const takeStepUpV1 = defineCommand({
  pattern: 'otp.step_up.take.v1',
  request: z.object({ accountId: uuid, challengeId: uuid, token: uuid }),
  response: z.object({ challengeId: uuid, taken: z.literal(true) }),
  exampleRequest: {
    accountId: '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10',
    challengeId: exampleView.id,
    token: '9d3b2a10-6c4e-4f1a-8b7d-2e5f6a7b8c9d',
  },
  exampleResponse: { challengeId: exampleView.id, taken: true },
  // Whoever holds the token can give the step-up back: it travels encrypted.
  sensitive: ['token'],
});

/**
 * Give a taken step-up back when the change it was taken for did not go through (nothing
 * committed), or when the take's answer was lost: a no-op unless `token` still holds it.
 */
export const giveBackStepUpV1 = defineCommand({
  pattern: 'otp.step_up.give_back.v1',
  request: z.object({ challengeId: uuid, token: uuid }),
  response: z.object({ givenBack: z.boolean() }),
  exampleRequest: { challengeId: exampleView.id, token: '9d3b2a10-6c4e-4f1a-8b7d-2e5f6a7b8c9d' },
  exampleResponse: { givenBack: true },
  sensitive: ['token'],
});

/**
 * The otp service's settings for a purpose's codes on a channel: how long they live (its
 * OTP_*_TTL) and how many wrong codes they take (OTP_MAX_ATTEMPTS). identity answers a decoy
 * password reset by them, as the otp service answers a real one (S6).
 */
export const getCodePolicyV1 = defineCommand({
  pattern: 'otp.code_policy.get.v1',
  request: z.object({ purpose: challengePurpose, channel }),
  response: z.object({
    ttlMs: z.number().int().positive(),
    maxAttempts: z.number().int().min(1),
  }),
  exampleRequest: { purpose: 'password_reset', channel: 'sms' },
  exampleResponse: { ttlMs: 600_000, maxAttempts: 5 },
});
