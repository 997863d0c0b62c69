import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import type { CallingCodePolicy } from '../config/delivery-otp.config';

/** Number types an SMS cannot reach, or reaches at the platform's cost (SMS pumping). */
const NO_SMS = new Set([
  'PREMIUM_RATE',
  'SHARED_COST',
  'TOLL_FREE',
  'VOIP',
  'PAGER',
  'UAN',
  'VOICEMAIL',
  'FIXED_LINE',
]);

/**
 * Whether a customer's number may take the handoff code by SMS: any E.164 number except those
 * the numbering plan knows to be premium-rate, shared-cost, toll-free, VoIP, pager, UAN,
 * voicemail or fixed-line (an SMS there is at best lost and at worst paid for by the platform:
 * SMS pumping through a logistics integration). A number the metadata cannot place is let
 * through, as before: carriers' plans change faster than the metadata.
 */
export function smsCapable(e164: string): boolean {
  const type = parsePhoneNumberFromString(e164)?.getType();
  return type === undefined || !NO_SMS.has(type);
}

export const NOT_SMS_CAPABLE =
  'must be a number that can take SMS (not premium-rate, toll-free, VoIP or fixed-line)';

/**
 * Whether the policy lets a handoff code go by SMS to `e164`. The calling code
 * is the one the numbering plan reads from the number; for a number it cannot
 * read, a listed code that starts its digits (calling codes are prefix-free),
 * so a number the metadata does not know is no way around a deny list.
 */
export function callingCodeAllowed(e164: string, policy: CallingCodePolicy): boolean {
  const digits = e164.replace(/^\+/, '');
  const read = parsePhoneNumberFromString(e164)?.countryCallingCode;
  const isCode = (code: string) => (read ? read === code : digits.startsWith(code));
  if (policy.denied.some(isCode)) return false;
  return policy.allowed.length === 0 || policy.allowed.some(isCode);
}

export const CALLING_CODE_REFUSED = 'must be a number in a country this service sends handoff codes to by SMS';
