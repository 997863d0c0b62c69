import { challengePurpose, channel, locale, uuid } from '@phonegate/contracts';
import { z } from 'zod';

export const startBody = z.object({
  to: z.string().trim().min(3).max(320),
  channel,
  purpose: challengePurpose,
  accountId: uuid.optional(),
  phoneId: uuid.optional(),
  /** ISO 3166 alpha-2, for numbers in national form. */
  country: z
    .string()
    .regex(/^[A-Za-z]{2}$/)
    .optional(),
  /** Your own reference (a login or reset id); checks may be bound to it. */
  ref: z.string().max(200).optional(),
  locale: locale.optional(),
  /** The end user's IP, for per-IP limits (the caller is usually a backend). */
  clientIp: z.string().max(64).optional(),
});
export type StartBody = z.infer<typeof startBody>;

export const checkBody = z.object({
  code: z.string().min(1).max(64),
  /** Optional: refuse the check unless the verification is for this purpose (and ref). */
  purpose: challengePurpose.optional(),
  ref: z.string().max(200).optional(),
});
export type CheckBody = z.infer<typeof checkBody>;

export const resendBody = z.object({
  channel: channel.optional(),
  to: z.string().trim().min(3).max(320).optional(),
  country: z
    .string()
    .regex(/^[A-Za-z]{2}$/)
    .optional(),
  clientIp: z.string().max(64).optional(),
});
export type ResendBody = z.infer<typeof resendBody>;

export const enrollBody = z.object({ label: z.string().trim().min(1).max(100).optional() });
export type EnrollBody = z.infer<typeof enrollBody>;

/**
 * A step-up shown with a factor change (S8): the id of a step-up verification of the account
 * approved in the last 5 minutes, used once.
 */
const stepUpId = uuid
  .optional()
  .describe(
    "Replacing a confirmed authenticator or reissuing backup codes: the id of a verification of purpose step_up for this account, approved in the last 5 minutes (identity's step-up of the account answers it as challenge.id; a storefront's own POST /v1/verifications does not count: its code went to an address the storefront chose). Used once.",
  );

export const confirmBody = z.object({ code: z.string().min(1).max(64), stepUpId });
export type ConfirmBody = z.infer<typeof confirmBody>;

export const backupCodesBody = z.object({ stepUpId });
export type BackupCodesBody = z.infer<typeof backupCodesBody>;

export const reportQuery = z.object({ t: z.string().min(3).max(80) });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
