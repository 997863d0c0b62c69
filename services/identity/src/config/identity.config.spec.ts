import { ConfigError } from '@phonegate/platform';
import { loadIdentityConfig } from './identity.config';

describe('loadIdentityConfig', () => {
  it('has working defaults outside production', () => {
    const c = loadIdentityConfig({ NODE_ENV: 'test' });
    expect(c.PORT).toBe(3001);
    expect(c.IDENTITY_ARGON2_MEMORY_KIB).toBe(19_456);
    expect(c.IDENTITY_REMEMBER_DEVICE_TTL).toBe(30 * 86_400_000);
    expect(c.IDENTITY_STEP_UP_WINDOW).toBe(5 * 60_000);
    expect(c.IDENTITY_OTP_TIMEOUT).toBe(3_000);
    expect(c.IDENTITY_SMS_LINE_TYPES).toEqual(['MOBILE', 'FIXED_LINE_OR_MOBILE']);
    expect(c.IDENTITY_IP_COUNTRIES).toContainEqual({ cidr: '203.0.113.0/24', country: 'AU' });
    expect(c.API_KEYS[0]?.scopes).toContain('storefront');
    expect(c.JWT_KEYS.activeKeyId).toBe('dev1');
    expect(c.IDENTITY_RESET_SEND_ATTEMPTS).toBe(6);
    expect(c.IDENTITY_RESET_SEND_RETRY).toBe(5_000);
    expect(c.IDENTITY_RESET_SWEEP_INTERVAL).toBe(1_000);
    expect(c.OTP_MAX_ATTEMPTS).toBe(5);
  });

  it('names every bad variable', () => {
    try {
      loadIdentityConfig({
        NODE_ENV: 'test',
        PORT: 'abc',
        IDENTITY_SESSION_TTL: 'soon',
        JWT_ACTIVE_KEY_ID: 'nope',
        IDENTITY_RESET_SWEEP_INTERVAL: '0s',
      });
      throw new Error('no error');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.map((p) => p.variable).sort()).toEqual([
        'IDENTITY_RESET_SWEEP_INTERVAL',
        'IDENTITY_SESSION_TTL',
        'PORT',
      ]);
    }
    expect(() => loadIdentityConfig({ NODE_ENV: 'test', JWT_ACTIVE_KEY_ID: 'nope' })).toThrow(
      'JWT_ACTIVE_KEY_ID',
    );
    // Longer than otp's step-up window: otp would refuse what identity's validUntil promised.
    expect(() => loadIdentityConfig({ NODE_ENV: 'test', IDENTITY_STEP_UP_WINDOW: '10m' })).toThrow(
      'IDENTITY_STEP_UP_WINDOW',
    );
    expect(
      loadIdentityConfig({ NODE_ENV: 'test', IDENTITY_STEP_UP_WINDOW: '2m' })
        .IDENTITY_STEP_UP_WINDOW,
    ).toBe(120_000);
  });

  it('has no key defaults in production (L3)', () => {
    expect(() => loadIdentityConfig({ NODE_ENV: 'production' })).toThrow(
      /API_KEYS.*BUS_ENCRYPTION_KEYS.*JWT_KEYS/,
    );
  });
});
