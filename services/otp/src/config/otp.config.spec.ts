import { ConfigError } from '@phonegate/platform';
import { loadOtpConfig, parseLimits, PUMP_PREFIX_MAX_LENGTH } from './otp.config';

describe('otp config', () => {
  it('has working defaults outside production', () => {
    const c = loadOtpConfig({});
    expect(c.port).toBe(3002);
    expect(c.codes).toMatchObject({ length: 6, maxAttempts: 5, maxSends: 5, cooldownMs: 30_000 });
    expect(c.codes.ttlMs).toMatchObject({
      sign_in: 300_000,
      phone_verification: 600_000,
      step_up: 300_000,
      password_reset: 600_000,
      email: 1_800_000,
    });
    expect(c.limits.destination).toEqual([
      { max: 5, windowMs: 900_000 },
      { max: 10, windowMs: 86_400_000 },
    ]);
    expect(c.fallbackOrder).toEqual(['sms', 'voice', 'email']);
    expect(c.phones.refuseVoip).toBe(true);
    expect(c.account.failureLimit).toBe(100);
    // S8: the e-mail is told of factor changes unless turned off.
    expect(c.factorAlerts).toBe(true);
    expect(loadOtpConfig({ OTP_FACTOR_ALERTS: 'false' }).factorAlerts).toBe(false);
  });

  it('refuses to start in production without real keys', () => {
    expect(() => loadOtpConfig({ NODE_ENV: 'production' })).toThrow(ConfigError);
    try {
      loadOtpConfig({ NODE_ENV: 'production' });
    } catch (error) {
      const vars = (error as ConfigError).problems.map((p) => p.variable);
      expect(vars).toEqual(
        expect.arrayContaining([
          'API_KEYS',
          'BUS_ENCRYPTION_KEYS',
          'CODE_HMAC_KEYS',
          'OTP_SECRET_KEYS',
        ]),
      );
    }
  });

  it('enforces the lifetimes of SECURITY C4 and code length of C1', () => {
    expect(() => loadOtpConfig({ OTP_SIGNIN_TTL: '6m' })).toThrow(/OTP_SIGNIN_TTL/);
    expect(() => loadOtpConfig({ OTP_PHONE_TTL: '11m' })).toThrow(/OTP_PHONE_TTL/);
    expect(() => loadOtpConfig({ OTP_EMAIL_TTL: '25h' })).toThrow(/OTP_EMAIL_TTL/);
    expect(() => loadOtpConfig({ OTP_CODE_LENGTH: '4' })).toThrow(/OTP_CODE_LENGTH/);
    expect(loadOtpConfig({ OTP_EMAIL_TTL: '24h' }).codes.ttlMs.email).toBe(86_400_000);
  });

  it('refuses a pumping prefix long enough to name a number (SECURITY L1), naming the variable', () => {
    expect(loadOtpConfig({}).pumping.prefixLength).toBe(5);
    expect(
      loadOtpConfig({ OTP_PUMP_PREFIX_LENGTH: String(PUMP_PREFIX_MAX_LENGTH) }).pumping
        .prefixLength,
    ).toBe(PUMP_PREFIX_MAX_LENGTH);
    for (const value of [String(PUMP_PREFIX_MAX_LENGTH + 1), '12', '15']) {
      try {
        loadOtpConfig({ OTP_PUMP_PREFIX_LENGTH: value });
        throw new Error(`OTP_PUMP_PREFIX_LENGTH=${value} was accepted`);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        const problems = (error as ConfigError).problems;
        expect(problems).toEqual([
          {
            variable: 'OTP_PUMP_PREFIX_LENGTH',
            message: expect.stringMatching(/at most 8 .*metric label.*SECURITY L1/),
          },
        ]);
      }
    }
    expect(() => loadOtpConfig({ OTP_PUMP_PREFIX_LENGTH: '1' })).toThrow(/OTP_PUMP_PREFIX_LENGTH/);
  });

  it('parses limits, country lists and ceilings', () => {
    expect(parseLimits('3/1m, 7/2h')).toEqual([
      { max: 3, windowMs: 60_000 },
      { max: 7, windowMs: 7_200_000 },
    ]);
    expect(() => parseLimits('x')).toThrow();
    const c = loadOtpConfig({
      OTP_DENIED_COUNTRIES: '+234,7',
      OTP_COUNTRY_DAILY_CEILINGS: '44:5000',
      OTP_FALLBACK_ORDER: 'sms,email',
    });
    expect(c.phones.denied).toEqual(['234', '7']);
    expect(c.limits.countryDailyCeilings.get('44')).toBe(5000);
    expect(c.fallbackOrder).toEqual(['sms', 'email']);
    expect(() => loadOtpConfig({ OTP_FALLBACK_ORDER: 'sms,fax' })).toThrow(/OTP_FALLBACK_ORDER/);
  });
});
