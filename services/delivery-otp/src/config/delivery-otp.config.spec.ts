import { ConfigError } from '@phonegate/platform';
import { loadDeliveryOtpConfig, outboxUnroutable } from './delivery-otp.config';

const key = (fill: number) => Buffer.alloc(32, fill).toString('base64');

describe('loadDeliveryOtpConfig', () => {
  it('has the documented defaults and uses dev keys outside production', () => {
    const config = loadDeliveryOtpConfig({});
    expect(config.port).toBe(3004);
    expect(config.host).toBe('0.0.0.0');
    // The embedded mode binds every service to the loopback interface.
    expect(loadDeliveryOtpConfig({ HOST: '127.0.0.1' }).host).toBe('127.0.0.1');
    expect(config.code).toMatchObject({ length: 6, graceMs: 30 * 60_000, maxAttempts: 5, clockToleranceMs: 120_000, regenerateCooldownMs: 30_000, maxRegenerations: 4 });
    expect(config.devKeysInUse).toEqual(['API_KEYS', 'BUS_ENCRYPTION_KEYS', 'DELIVERY_CODE_KEYS', 'CODE_HMAC_KEYS']);
    expect(config.redis.keyPrefix).toBe('delivery-otp:');
  });

  it('parses merchant code lengths and key rings', () => {
    const config = loadDeliveryOtpConfig({
      DELIVERY_MERCHANT_CODE_LENGTHS: 'merchantA:4, merchantB:6',
      DELIVERY_CODE_KEYS: `new:${key(1)},old:${key(2)}`,
      DELIVERY_GRACE: '45m',
    });
    expect([...config.code.merchantLengths]).toEqual([['merchantA', 4], ['merchantB', 6]]);
    expect(config.codeEncryptionKeys.activeKeyId).toBe('new');
    expect(config.codeEncryptionKeys.keys.size).toBe(2);
    expect(config.code.graceMs).toBe(45 * 60_000);
  });

  it('fails in production without keys, naming each variable', () => {
    try {
      loadDeliveryOtpConfig({ NODE_ENV: 'production', API_KEYS: 'k-123:ops' });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.map((p) => p.variable)).toEqual(['BUS_ENCRYPTION_KEYS', 'DELIVERY_CODE_KEYS', 'CODE_HMAC_KEYS']);
    }
  });

  it('refuses code lengths outside 4 to 6 and bad key material', () => {
    expect(() => loadDeliveryOtpConfig({ DELIVERY_CODE_LENGTH: '8' })).toThrow(/DELIVERY_CODE_LENGTH/);
    expect(() => loadDeliveryOtpConfig({ DELIVERY_MERCHANT_CODE_LENGTHS: 'merchantA:3' })).toThrow(/DELIVERY_MERCHANT_CODE_LENGTHS/);
    expect(() => loadDeliveryOtpConfig({ DELIVERY_CODE_KEYS: 'k1:c2hvcnQ=' })).toThrow(/DELIVERY_CODE_KEYS/);
  });

  it('reads the SMS calling-code policy as otp does: lists of calling codes, a leading + allowed, every code by default (SECURITY S3)', () => {
    expect(loadDeliveryOtpConfig({}).smsCallingCodes).toEqual({ allowed: [], denied: [] });
    expect(loadDeliveryOtpConfig({ DELIVERY_ALLOWED_COUNTRIES: '1, +44,49', DELIVERY_DENIED_COUNTRIES: '+234' }).smsCallingCodes).toEqual({
      allowed: ['1', '44', '49'],
      denied: ['234'],
    });
    for (const bad of ['UK', '+', '1234', '0', '44:1']) {
      expect(() => loadDeliveryOtpConfig({ DELIVERY_DENIED_COUNTRIES: bad })).toThrow(/DELIVERY_DENIED_COUNTRIES/);
    }
    expect(() => loadDeliveryOtpConfig({ DELIVERY_ALLOWED_COUNTRIES: '1,GB' })).toThrow(/DELIVERY_ALLOWED_COUNTRIES/);
  });

  it('allows at most 5 sends of a handoff code, the first issue included (SECURITY C9)', () => {
    expect(loadDeliveryOtpConfig({ DELIVERY_MAX_REGENERATIONS: '2' }).code.maxRegenerations).toBe(2);
    expect(() => loadDeliveryOtpConfig({ DELIVERY_MAX_REGENERATIONS: '5' })).toThrow(/DELIVERY_MAX_REGENERATIONS/);
  });

  it('drops only its own delivery events when no queue is bound (BUS_UNROUTABLE), never a notification', () => {
    const byDefault = outboxUnroutable(loadDeliveryOtpConfig({}));
    expect(byDefault('delivery.handoff.code_issued.v1')).toBe('drop');
    expect(byDefault('notification.requested.v1.critical')).toBe('retry');
    expect(byDefault('notification.requested.v1.standard')).toBe('retry');
    const retrying = outboxUnroutable(loadDeliveryOtpConfig({ BUS_UNROUTABLE: 'retry' }));
    expect(retrying('delivery.handoff.confirmed.v1')).toBe('retry');
    expect(retrying('notification.requested.v1.critical')).toBe('retry');
  });
});
