import { z } from 'zod';
import { ConfigError, env, loadConfig, parseDuration } from './config';

describe('loadConfig', () => {
  const schema = z.object({
    PORT: env.int(3000, 1, 65535),
    OTP_LOGIN_TTL: env.duration('5m'),
    RABBITMQ_URL: env.url(),
    FEATURE: env.bool(false),
    KEYS: env.keyring(32, `k1:${Buffer.alloc(32, 1).toString('base64')}`),
  });

  it('parses typed values with defaults', () => {
    const cfg = loadConfig(schema, { RABBITMQ_URL: 'amqp://localhost' });
    expect(cfg.PORT).toBe(3000);
    expect(cfg.OTP_LOGIN_TTL).toBe(300_000);
    expect(cfg.FEATURE).toBe(false);
    expect(cfg.KEYS.activeKeyId).toBe('k1');
  });

  it('names every bad or missing variable', () => {
    let error: unknown;
    try {
      loadConfig(schema, { PORT: 'eighty', OTP_LOGIN_TTL: 'soon' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const vars = (error as ConfigError).problems.map((p) => p.variable).sort();
    expect(vars).toEqual(['OTP_LOGIN_TTL', 'PORT', 'RABBITMQ_URL']);
    expect((error as ConfigError).message).toContain('PORT');
  });

  it('refuses a key of the wrong size', () => {
    expect(() => loadConfig(schema, { RABBITMQ_URL: 'amqp://x', KEYS: 'k1:AAAA' })).toThrow(/KEYS/);
  });

  it('parses durations', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(() => parseDuration('tomorrow')).toThrow();
  });
});
