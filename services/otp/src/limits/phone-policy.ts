import { type CountryCode, parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { DomainError } from '@phonegate/platform';

export interface PhonePolicy {
  /** Calling codes allowed (empty: all). */
  allowed: readonly string[];
  /** Calling codes refused. */
  denied: readonly string[];
  refuseVoip: boolean;
  refusePremiumRate: boolean;
}

export interface ParsedPhone {
  e164: string;
  callingCode: string;
  type: string | undefined;
}

/**
 * Parses a number given in E.164 or national form with an ISO country, with
 * the full metadata (libphonenumber-js/max) so the line type is known.
 *
 * With that metadata `isValid()` is "has a type" for every numbering plan that
 * has type patterns (libphonenumber-js `isValidNumber`), and each of the two
 * matches the number against the plan's patterns again (a new RegExp per
 * pattern). So the type is computed once and `isValid()` asked only when there
 * is none (an invalid number, or a plan without types): same answer, one
 * matching pass fewer for every valid number (~5 µs of ~17 µs).
 */
export function parsePhone(input: string, country?: string): ParsedPhone {
  const text = input.trim();
  const parsed = parsePhoneNumberFromString(
    text,
    country ? (country.toUpperCase() as CountryCode) : undefined,
  );
  const type = parsed?.getType();
  if (!parsed || (type === undefined && !parsed.isValid())) {
    throw new DomainError(
      'invalid_phone_number',
      'That is not a valid phone number; send E.164 (+14155550123) or a national number with a country.',
    );
  }
  return { e164: parsed.number, callingCode: parsed.countryCallingCode, type };
}

/**
 * The country and line-type rules (SECURITY S3, S5), applied before anything
 * is counted or sent. VoIP numbers are refused for two-step (they are cheap
 * to obtain in bulk); premium-rate numbers are refused for every purpose
 * (they are how SMS pumping makes money).
 */
export function enforcePhonePolicy(
  phone: ParsedPhone,
  policy: PhonePolicy,
  twoStep: boolean,
): void {
  if (
    policy.denied.includes(phone.callingCode) ||
    (policy.allowed.length > 0 && !policy.allowed.includes(phone.callingCode))
  ) {
    throw new DomainError(
      'destination_refused',
      `Numbers with the calling code +${phone.callingCode} are not served.`,
      { reason: 'country' },
    );
  }
  if (policy.refusePremiumRate && (phone.type === 'PREMIUM_RATE' || phone.type === 'SHARED_COST')) {
    throw new DomainError('destination_refused', 'Premium-rate numbers cannot receive codes.', {
      reason: 'premium_rate',
    });
  }
  if (twoStep && policy.refuseVoip && phone.type === 'VOIP') {
    throw new DomainError(
      'destination_refused',
      'VoIP numbers cannot be used for two-step verification.',
      { reason: 'voip' },
    );
  }
}

/**
 * Digits at the end of a number that are never part of its pumping prefix: the prefix is a
 * metric label and goes into logs (SECURITY L1, numbers masked to the last two digits), so it
 * names a range of at least 10 000 numbers, never one number, however short the number.
 */
export const PUMP_PREFIX_HIDDEN_DIGITS = 4;

/**
 * The pumping prefix of a number: its first `length` digits (country code included), but never
 * its last PUMP_PREFIX_HIDDEN_DIGITS (a short number gets a shorter prefix).
 */
export function pumpPrefix(e164: string, length: number): string {
  const digits = e164.replace(/^\+/, '');
  return digits.slice(0, Math.max(0, Math.min(length, digits.length - PUMP_PREFIX_HIDDEN_DIGITS)));
}

/** The block a number is in (all digits but the last `blockDigits`) and its place in the block. */
export function numberBlock(e164: string, blockDigits: number): { block: string; index: number } {
  const digits = e164.replace(/^\+/, '');
  return {
    block: digits.slice(0, digits.length - blockDigits),
    index: Number(digits.slice(digits.length - blockDigits)),
  };
}
