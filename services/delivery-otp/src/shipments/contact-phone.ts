import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

/**
 * Whether a customer's number can take the handoff code by SMS: a valid mobile (or
 * fixed-or-mobile) number. Premium-rate, shared-cost, toll-free, VoIP, pager and fixed-line
 * numbers are refused: an SMS there is at best lost and at worst paid for by the platform
 * (SMS pumping through a logistics integration).
 */
export function smsCapable(e164: string): boolean {
  const parsed = parsePhoneNumberFromString(e164);
  if (!parsed?.isValid()) return false;
  const type = parsed.getType();
  return type === 'MOBILE' || type === 'FIXED_LINE_OR_MOBILE';
}

export const NOT_SMS_CAPABLE = 'must be a mobile number that can take SMS (not premium-rate, toll-free, VoIP or fixed-line)';
