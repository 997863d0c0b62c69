import { ConfigError } from '@phonegate/platform';
import { loadNotifierConfig } from './notifier.config';

describe('loadNotifierConfig', () => {
  it('starts with development defaults outside production and says which keys are dev keys', () => {
    const config = loadNotifierConfig({});
    expect(config.port).toBe(3003);
    expect(config.lanes.critical).toEqual({
      prefetch: 100,
      concurrency: 32,
      consumers: 1,
      ttlMs: 600_000,
    });
    expect(config.retry.delaysMs).toEqual([250, 500, 1000, 2000, 4000]);
    expect(config.carriers.preferences.sms).toEqual(['smpp-a', 'http-b']);
    expect(config.carriers.carriers.find((c) => c.id === 'http-b')).toMatchObject({
      statusCallbackUrl: 'http://127.0.0.1:3003/v1/carriers/http-b/receipts',
    });
    expect(config.devKeysInUse).toEqual([
      'API_KEYS',
      'BUS_ENCRYPTION_KEYS',
      'NOTIFIER_DESTINATION_HASH_KEYS',
    ]);
  });

  it('refuses to start in production without real keys, naming every variable', () => {
    const error = (() => {
      try {
        loadNotifierConfig({ NODE_ENV: 'production' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.variable)).toEqual([
      'API_KEYS',
      'BUS_ENCRYPTION_KEYS',
      'NOTIFIER_DESTINATION_HASH_KEYS',
      'CARRIERS',
    ]);
  });

  it('reads the delivery-rate signal of the breakers, with its defaults', () => {
    expect(loadNotifierConfig({}).deliveryRate).toEqual({
      windowMs: 60_000,
      minReceipts: 20,
      maxFailedShare: 0.5,
    });
    expect(
      loadNotifierConfig({
        NOTIFIER_RECEIPT_WINDOW: '2m',
        NOTIFIER_RECEIPT_MIN_COUNT: '50',
        NOTIFIER_RECEIPT_FAILED_SHARE: '0.8',
      }).deliveryRate,
    ).toEqual({ windowMs: 120_000, minReceipts: 50, maxFailedShare: 0.8 });
    expect(() => loadNotifierConfig({ NOTIFIER_RECEIPT_FAILED_SHARE: '1.5' })).toThrow(
      /NOTIFIER_RECEIPT_FAILED_SHARE/,
    );
    expect(() => loadNotifierConfig({ NOTIFIER_RECEIPT_MIN_COUNT: '0' })).toThrow(
      /NOTIFIER_RECEIPT_MIN_COUNT/,
    );
  });

  it('names a bad variable', () => {
    expect(() => loadNotifierConfig({ NOTIFIER_BULK_CONCURRENCY: '0' })).toThrow(
      /NOTIFIER_BULK_CONCURRENCY/,
    );
    expect(() => loadNotifierConfig({ NOTIFIER_RETRY_DELAYS: '1s,soon' })).toThrow(
      /NOTIFIER_RETRY_DELAYS/,
    );
    expect(() => loadNotifierConfig({ BUS_ACTIVE_KEY_ID: 'nope' })).toThrow(/BUS_ACTIVE_KEY_ID/);
    expect(() => loadNotifierConfig({ SMS_CARRIERS: 'smpp-a,nowhere' })).toThrow(/SMS_CARRIERS/);
  });
});
