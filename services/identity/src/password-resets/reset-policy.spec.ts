import { policyDifferences, policyOf, resetEnd, samePolicy } from './reset-policy';

describe('policyOf', () => {
  const sentAt = 1_700_000_000_000;
  const view = (expiresAt: number, attemptsRemaining = 3) => ({
    expiresAt: new Date(expiresAt).toISOString(),
    attemptsRemaining,
  });

  it("reads the otp service's code life and attempts from a fresh challenge, whatever the round trip took", () => {
    // The otp service made it 40 ms into a 90 ms round trip, with a 40 s life.
    expect(policyOf(view(sentAt + 40 + 40_000), sentAt, sentAt + 90)).toEqual({
      ttlMs: 40_000,
      maxAttempts: 3,
    });
    // Made at once, answered 400 ms later (and the clocks 100 ms apart).
    expect(policyOf(view(sentAt - 100 + 600_000, 5), sentAt, sentAt + 400)).toEqual({
      ttlMs: 600_000,
      maxAttempts: 5,
    });
  });

  it('learns nothing from an answer it cannot read', () => {
    expect(
      policyOf({ expiresAt: 'soon', attemptsRemaining: 3 }, sentAt, sentAt + 10),
    ).toBeUndefined();
    expect(policyOf(view(sentAt + 30_000, 0), sentAt, sentAt + 10)).toBeUndefined();
    expect(policyOf(view(sentAt - 5_000), sentAt, sentAt + 10)).toBeUndefined();
  });
});

describe('policyDifferences', () => {
  it("names identity's variable and the otp service's for each number that differs", () => {
    const otp = { ttlMs: 40_000, maxAttempts: 3 };
    expect(policyDifferences({ ttlMs: 600_000, maxAttempts: 3 }, otp)).toEqual([
      {
        variable: 'IDENTITY_RESET_TTL',
        otpVariable: 'OTP_RESET_TTL',
        configured: 600_000,
        otp: 40_000,
      },
    ]);
    expect(policyDifferences({ ttlMs: 40_000, maxAttempts: 5 }, otp)).toEqual([
      { variable: 'OTP_MAX_ATTEMPTS', otpVariable: 'OTP_MAX_ATTEMPTS', configured: 5, otp: 3 },
    ]);
    expect(policyDifferences(otp, { ...otp })).toEqual([]);
    expect(samePolicy(otp, { ...otp })).toBe(true);
    expect(samePolicy(otp, { ...otp, ttlMs: 41_000 })).toBe(false);
  });
});

describe('resetEnd', () => {
  const policy = { ttlMs: 40_000, maxAttempts: 3 };

  it("ends a sent code when the otp service ends it, and any other reset by the otp service's life as known now", () => {
    expect(resetEnd({ codeExpiresAt: 5_000 }, policy)).toBe(5_000);
    // Stored when identity knew only its own 10 minutes; the otp service's 40 s count since.
    expect(resetEnd({ codeExpiresAt: 1_000 + 600_000, lifeFrom: 1_000 }, policy)).toBe(41_000);
  });
});
