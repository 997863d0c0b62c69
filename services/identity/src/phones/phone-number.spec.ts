import fc from 'fast-check';
import { DomainError } from '@phonegate/platform';
import { acceptsChannel, parsePhone, parseValid } from './phone-number';

const policy = {
  smsLineTypes: ['MOBILE', 'FIXED_LINE_OR_MOBILE'],
  voiceLineTypes: ['MOBILE', 'FIXED_LINE_OR_MOBILE', 'FIXED_LINE'],
};
const E164 = /^\+[1-9]\d{6,14}$/;

function outcome(fn: () => unknown): 'ok' | 'invalid' {
  try {
    const parsed = fn() as { e164: string };
    expect(parsed.e164).toMatch(E164);
    return 'ok';
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('invalid_phone_number');
    expect((error as DomainError).status).toBe(422);
    return 'invalid';
  }
}

describe('parsePhone', () => {
  it('accepts E.164 and national form with a country, answering E.164', () => {
    expect(parsePhone('+14155550123', undefined, 'sms', policy)).toMatchObject({ e164: '+14155550123', country: 'US' });
    expect(parsePhone('(415) 555-0123', 'us', 'sms', policy).e164).toBe('+14155550123');
    expect(parsePhone('07911 123456', 'GB', 'sms', policy)).toMatchObject({ e164: '+447911123456', lineType: 'MOBILE' });
  });

  it('refuses a fixed line for SMS but takes it for voice', () => {
    expect(() => parsePhone('+442071838750', undefined, 'sms', policy)).toThrow('or ask for a voice call');
    expect(parsePhone('+442071838750', undefined, 'voice', policy).lineType).toBe('FIXED_LINE');
    expect(acceptsChannel('FIXED_LINE', 'sms', policy)).toBe(false);
  });

  it('refuses premium-rate numbers on any channel (S5)', () => {
    expect(() => parsePhone('+19005550123', undefined, 'voice', policy)).toThrow('voice');
    // By SMS too, and the refusal does not offer a voice call it would refuse as well.
    expect(() => parsePhone('+19005550123', undefined, 'sms', policy)).toThrow('cannot receive codes by text message or by voice');
  });

  it('refuses national form without a country, an unknown country, letters and extensions', () => {
    for (const [n, c] of [
      ['4155550123', undefined],
      ['4155550123', 'XX'],
      ['+1 415 CALL NOW', undefined],
      ['+14155550123 ext. 12', undefined],
      ['call +14155550123', undefined],
      ['', undefined],
    ] as const) {
      expect(outcome(() => parsePhone(n, c, 'sms', policy))).toBe('invalid');
    }
  });

  it('never throws anything but invalid_phone_number, or answers a valid E.164 (random text)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.option(fc.string({ maxLength: 4 }), { nil: undefined }), fc.constantFrom<'sms' | 'voice'>('sms', 'voice'), (text, country, channel) => {
        outcome(() => parsePhone(text, country, channel, policy));
      }),
      { numRuns: 2_000 },
    );
  });

  it('the same for digit strings with separators and real country codes', () => {
    const countries = fc.constantFrom(undefined, 'US', 'GB', 'DE', 'FR', 'IN', 'BR', 'AU', 'JP', 'NG');
    const digits = fc.array(fc.constantFrom(...'0123456789 -().'.split('')), { minLength: 0, maxLength: 20 }).map((a) => a.join(''));
    fc.assert(
      fc.property(fc.boolean(), digits, countries, (plus, body, country) => {
        outcome(() => parseValid(`${plus ? '+' : ''}${body}`, country));
      }),
      { numRuns: 3_000 },
    );
  });

  it('the same for unexpected input types', () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (input, country) => {
        outcome(() => parsePhone(input, country, 'sms', policy));
      }),
      { numRuns: 500 },
    );
  });

  it('accepted numbers round-trip: parsing the answer again gives the same E.164', () => {
    const nationalUs = fc.integer({ min: 2_012_000_000, max: 9_899_999_999 }).map(String);
    fc.assert(
      fc.property(nationalUs, (national) => {
        try {
          const first = parseValid(national, 'US');
          expect(parseValid(first.e164, undefined).e164).toBe(first.e164);
        } catch (error) {
          expect((error as DomainError).code).toBe('invalid_phone_number');
        }
      }),
      { numRuns: 1_000 },
    );
  });
});
