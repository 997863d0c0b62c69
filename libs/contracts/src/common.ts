import { z } from 'zod';

export const uuid = z.string().uuid();
export const isoTime = z.string().datetime({ offset: true });
/** E.164: a plus, a country code and at most 15 digits in all. */
export const e164 = z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be E.164, e.g. +14155550123');
export const channel = z.enum(['sms', 'voice', 'email']);
export type Channel = z.infer<typeof channel>;
export const otpChannel = z.enum(['sms', 'voice', 'email', 'totp', 'backup_code']);
export const twoStepMethod = z.enum(['sms', 'voice', 'email', 'totp']);
export const priority = z.enum(['critical', 'standard', 'bulk']);
export type Priority = z.infer<typeof priority>;
export const locale = z.string().regex(/^[a-z]{2}(-[A-Z]{2})?$/);
export const challengePurpose = z.enum(['sign_in', 'phone_verification', 'step_up', 'password_reset', 'custom']);
export type ChallengePurpose = z.infer<typeof challengePurpose>;
export const deliveryWindow = z.object({ start: isoTime, end: isoTime });
