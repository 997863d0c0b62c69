import { DomainError } from '@phonegate/platform';
import fc from 'fast-check';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import {
  enforcePhonePolicy,
  numberBlock,
  parsePhone,
  PUMP_PREFIX_HIDDEN_DIGITS,
  pumpPrefix,
} from './phone-policy';

const open = { allowed: [], denied: [], refuseVoip: true, refusePremiumRate: true };

function refusal(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error instanceof DomainError
      ? `${error.code}:${(error.extra['reason'] as string | undefined) ?? ''}`
      : 'other';
  }
}

describe('phone policy', () => {
  it('parses E.164 and national numbers with a country, and refuses invalid ones', () => {
    expect(parsePhone('+14155550123')).toMatchObject({ e164: '+14155550123', callingCode: '1' });
    expect(parsePhone('030 12345678', 'de')).toMatchObject({
      e164: '+493012345678',
      callingCode: '49',
    });
    expect(refusal(() => parsePhone('12'))).toBe('invalid_phone_number:');
    expect(refusal(() => parsePhone('+999123'))).toBe('invalid_phone_number:');
  });

  it('accepts exactly the numbers libphonenumber-js calls valid, with their type', () => {
    const callingCodes = [
      '1',
      '7',
      '33',
      '44',
      '49',
      '52',
      '55',
      '61',
      '81',
      '86',
      '91',
      '234',
      '971',
      '800',
      '882',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...callingCodes),
        fc.stringMatching(/^[0-9]{4,12}$/),
        (cc, national) => {
          const input = `+${cc}${national}`;
          const reference = parsePhoneNumberFromString(input);
          const valid = reference?.isValid() ?? false;
          const ours = (() => {
            try {
              return parsePhone(input);
            } catch (error) {
              if (error instanceof DomainError && error.code === 'invalid_phone_number')
                return undefined;
              throw error;
            }
          })();
          expect(ours !== undefined).toBe(valid);
          if (ours) expect(ours.type).toBe(reference?.getType());
        },
      ),
      { numRuns: 1000 },
    );
    // Both sides of the rule, for sure: valid numbers of several types, and invalid ones.
    expect(parsePhone('+14155550123').type).toBe('FIXED_LINE_OR_MOBILE');
    expect(parsePhone('+447911123456').type).toBe('MOBILE');
    expect(refusal(() => parsePhone('+4479111234'))).toBe('invalid_phone_number:');
  });

  it('applies allow and deny lists of calling codes', () => {
    const us = parsePhone('+14155550123');
    expect(refusal(() => enforcePhonePolicy(us, { ...open, denied: ['1'] }, false))).toBe(
      'destination_refused:country',
    );
    expect(refusal(() => enforcePhonePolicy(us, { ...open, allowed: ['44'] }, false))).toBe(
      'destination_refused:country',
    );
    expect(
      refusal(() => enforcePhonePolicy(us, { ...open, allowed: ['44', '1'] }, false)),
    ).toBeUndefined();
  });

  it('refuses VoIP numbers for two-step and premium-rate numbers always (configurable)', () => {
    const voip = parsePhone('+445612345678');
    expect(voip.type).toBe('VOIP');
    expect(refusal(() => enforcePhonePolicy(voip, open, true))).toBe('destination_refused:voip');
    expect(refusal(() => enforcePhonePolicy(voip, open, false))).toBeUndefined();
    expect(
      refusal(() => enforcePhonePolicy(voip, { ...open, refuseVoip: false }, true)),
    ).toBeUndefined();
    const premium = parsePhone('+19005550123');
    expect(premium.type).toBe('PREMIUM_RATE');
    expect(refusal(() => enforcePhonePolicy(premium, open, false))).toBe(
      'destination_refused:premium_rate',
    );
    expect(
      refusal(() => enforcePhonePolicy(premium, { ...open, refusePremiumRate: false }, false)),
    ).toBeUndefined();
  });

  it('derives pumping prefixes and blocks without the last digits', () => {
    expect(pumpPrefix('+447911123456', 5)).toBe('44791');
    expect(numberBlock('+447911123456', 2)).toEqual({ block: '4479111234', index: 56 });
  });

  it('never makes a prefix of a whole number, however short (SECURITY L1: it is a metric label)', () => {
    // The last PUMP_PREFIX_HIDDEN_DIGITS digits are never part of a prefix.
    expect(PUMP_PREFIX_HIDDEN_DIGITS).toBeGreaterThanOrEqual(3);
    expect(pumpPrefix('+447911123456', 8)).toBe('44791112');
    // Short numbers (Saint Helena, Niue, Tokelau): clamped per number, not only by the config.
    expect(pumpPrefix('+29022345', 5)).toBe('2902');
    expect(pumpPrefix('+6834002', 5)).toBe('683');
    expect(pumpPrefix('+69021', 2)).toBe('6');
    for (const number of ['+14155550123', '+29022345', '+6834002', '+69021', '+4930123456']) {
      const digits = number.slice(1);
      for (let length = 2; length <= 12; length++) {
        const prefix = pumpPrefix(number, length);
        expect(digits.startsWith(prefix)).toBe(true);
        expect(prefix.length).toBeLessThanOrEqual(
          Math.max(0, Math.min(length, digits.length - PUMP_PREFIX_HIDDEN_DIGITS)),
        );
        expect(digits.length - prefix.length).toBeGreaterThanOrEqual(PUMP_PREFIX_HIDDEN_DIGITS);
      }
    }
  });
});
