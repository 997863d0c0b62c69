import { DomainError } from '@phonegate/platform';
import { type CountryCode, isSupportedCountry, parsePhoneNumberWithError } from 'libphonenumber-js/max';

/** What a number was accepted for; voice also reaches fixed lines. */
export type PhoneChannel = 'sms' | 'voice';

export interface PhonePolicy {
  /** libphonenumber types accepted for SMS (and so for SMS two-step). */
  smsLineTypes: readonly string[];
  /** Types accepted when the channel is voice. */
  voiceLineTypes: readonly string[];
}

export interface ParsedPhone {
  e164: string;
  /** ISO 3166 alpha-2 of the number, when known (non-geographic numbers have none). */
  country: string | null;
  lineType: string;
}

const MAX_INPUT = 64;

/**
 * Parses a number given in E.164 or in national form with a country, and
 * accepts it only when it is valid and its line type can take the channel:
 * SMS needs a mobile (or fixed-or-mobile) number; voice also takes fixed lines.
 * Never throws anything but DomainError('invalid_phone_number').
 */
export function parsePhone(input: unknown, country: unknown, channel: PhoneChannel, policy: PhonePolicy): ParsedPhone {
  const parsed = parseValid(input, country);
  const allowed = channel === 'voice' ? policy.voiceLineTypes : policy.smsLineTypes;
  if (!allowed.includes(parsed.lineType)) {
    throw invalid(
      channel === 'voice'
        ? 'This number cannot take voice calls for codes.'
        : policy.voiceLineTypes.includes(parsed.lineType)
          ? 'This number cannot receive text messages; use a mobile number, or ask for a voice call.'
          : 'This number cannot receive codes by text message or by voice; use a mobile number.',
      { lineType: parsed.lineType },
    );
  }
  return parsed;
}

/** Whether an accepted number may also be used on the other channel. */
export function acceptsChannel(lineType: string, channel: PhoneChannel, policy: PhonePolicy): boolean {
  return (channel === 'voice' ? policy.voiceLineTypes : policy.smsLineTypes).includes(lineType);
}

/**
 * Parses and checks validity only (any line type): used to look a number up
 * (password reset), where what it can receive is decided later.
 */
export function parseValid(input: unknown, country: unknown): ParsedPhone {
  if (typeof input !== 'string' || input.trim().length === 0 || input.length > MAX_INPUT) {
    throw invalid('Send the number in E.164 (+14155550123) or national form with a country.');
  }
  let region: CountryCode | undefined;
  if (country !== undefined && country !== null) {
    const upper = typeof country === 'string' ? country.toUpperCase() : '';
    if (!/^[A-Z]{2}$/.test(upper) || !isSupportedCountry(upper)) {
      throw invalid('country must be an ISO 3166 alpha-2 code, e.g. US.');
    }
    region = upper;
  }
  const text = input.trim();
  if (!text.startsWith('+') && !region) throw invalid('A number in national form needs a country.');
  // Only digits, spaces and the usual separators: no letters (vanity), no extensions.
  if (!/^\+?[\d\s().-]+$/.test(text)) throw invalid('The number has characters a phone number cannot have.');
  let number;
  try {
    number = parsePhoneNumberWithError(text, { defaultCountry: region, extract: false });
  } catch {
    throw invalid('This is not a phone number.');
  }
  if (!number.isValid() || number.ext) throw invalid('This is not a valid phone number.');
  const e164 = number.number;
  if (!/^\+[1-9]\d{6,14}$/.test(e164)) throw invalid('This is not a valid phone number.');
  return { e164, country: number.country ?? null, lineType: number.getType() ?? 'UNKNOWN' };
}

function invalid(detail: string, extra: Record<string, unknown> = {}): DomainError {
  return new DomainError('invalid_phone_number', detail, extra);
}
