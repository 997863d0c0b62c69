import { EMAIL_LIMITS, emailAddress, emailLimitProblem } from './email';

const local64 = 'l'.repeat(64);
const label63 = 'd'.repeat(63);

describe('emailLimitProblem (RFC 5321 §4.5.3.1)', () => {
  it('accepts addresses at every limit', () => {
    expect(emailLimitProblem(`${local64}@example.com`)).toBeUndefined();
    expect(emailLimitProblem(`ann@${label63}.example.com`)).toBeUndefined();
    // 64 + 1 + 189 = 254 octets
    const domain189 = `${label63}.${label63}.${'e'.repeat(57)}.com`;
    expect(domain189).toHaveLength(189);
    expect(emailLimitProblem(`${local64}@${domain189}`)).toBeUndefined();
  });

  it('names the limit an address passes, never the address', () => {
    expect(emailLimitProblem(`${'x'.repeat(300)}@example.com`)).toBe(
      'the part before @ is longer than 64 octets',
    );
    expect(emailLimitProblem(`${local64}l@example.com`)).toBe(
      'the part before @ is longer than 64 octets',
    );
    expect(emailLimitProblem(`ann@${'d'.repeat(180)}.com`)).toBe(
      'a domain label is longer than 63 octets',
    );
    expect(emailLimitProblem(`ann@${label63}d.com`)).toBe(
      'a domain label is longer than 63 octets',
    );
    expect(emailLimitProblem(`ann@${`${label63}.`.repeat(4)}com`)).toBe(
      'the domain is longer than 255 octets',
    );
    const domain190 = `${label63}.${label63}.${'e'.repeat(58)}.com`;
    expect(emailLimitProblem(`${local64}@${domain190}`)).toBe(
      'the address is longer than 254 octets',
    );
  });

  it('counts octets, not characters', () => {
    // 32 two-octet characters = 64 octets; 33 = 66.
    expect(emailLimitProblem(`${'é'.repeat(32)}@example.com`)).toBeUndefined();
    expect(emailLimitProblem(`${'é'.repeat(33)}@example.com`)).toBe(
      'the part before @ is longer than 64 octets',
    );
  });

  it('leaves the format to the format check', () => {
    expect(emailLimitProblem('no-at-sign')).toBeUndefined();
    expect(EMAIL_LIMITS).toEqual({ localPart: 64, domain: 255, label: 63, address: 254 });
  });
});

describe('emailAddress', () => {
  it('accepts an ordinary address and refuses a malformed or over-long one with a message', () => {
    expect(emailAddress.parse('ann.lee+orders@shop.example.com')).toBe(
      'ann.lee+orders@shop.example.com',
    );
    expect(emailAddress.safeParse('nope').success).toBe(false);
    const long = emailAddress.safeParse(`${'x'.repeat(300)}@example.com`);
    expect(long.success).toBe(false);
    expect(long.error?.issues).toEqual([
      expect.objectContaining({
        code: 'custom',
        path: [],
        message: 'must be a valid e-mail address: the part before @ is longer than 64 octets',
      }),
    ]);
  });
});
