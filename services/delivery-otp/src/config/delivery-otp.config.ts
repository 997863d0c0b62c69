import { ConfigError, env, type Keyring, loadConfig, parseApiKeys } from '@phonegate/platform';
import { z } from 'zod';

/**
 * Development-only keys, used when NODE_ENV is not `production` and the
 * variable is unset. In production every key variable is required (L3).
 * NOT SECRET: never use these anywhere real.
 */
const devKey = (text: string) => `dev1:${Buffer.from(text).toString('base64')}`;
const DEV_KEYS = {
  API_KEYS: 'dev:storefront+logistics+ops',
  // The same development keys as tools/stack, so a dev stack interoperates.
  BUS_ENCRYPTION_KEYS: devKey('phonegate-dev-bus-key-32-bytes!!'),
  DELIVERY_CODE_KEYS: devKey('phonegate-dev-secret-key-32-byte'),
  CODE_HMAC_KEYS: devKey('phonegate-dev-hmac-key-32-bytes!'),
} as const;

const CODE_LENGTH_MIN = 4;
const CODE_LENGTH_MAX = 6;

/** `merchantA:4,merchantB:6` → Map; each length 4 to 6 digits. */
const merchantLengths = z
  .string()
  .default('')
  .transform((text, ctx) => {
    const lengths = new Map<string, number>();
    for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
      const idx = part.lastIndexOf(':');
      const merchant = part.slice(0, idx).trim();
      const length = Number(part.slice(idx + 1));
      if (idx <= 0 || !merchant || !Number.isInteger(length) || length < CODE_LENGTH_MIN || length > CODE_LENGTH_MAX) {
        ctx.addIssue({ code: 'custom', message: `expected merchant:length entries with lengths ${CODE_LENGTH_MIN} to ${CODE_LENGTH_MAX}` });
        return z.NEVER;
      }
      lengths.set(merchant, length);
    }
    return lengths;
  });

export const deliveryOtpEnvSchema = z.object({
  NODE_ENV: z.string().default('development'),
  PORT: env.int(3004, 0, 65_535),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: env.logLevel(),
  DATABASE_URL: env.url('postgres://postgres@127.0.0.1:5432/delivery_otp'),
  DATABASE_POOL_SIZE: env.int(20, 1, 500),
  REDIS_URL: env.url('redis://127.0.0.1:6379'),
  REDIS_KEY_PREFIX: z.string().default('delivery-otp:'),
  REDIS_COMMAND_TIMEOUT: env.duration('1s'),
  RABBITMQ_URL: env.url('amqp://guest:guest@127.0.0.1:5672'),
  BUS_UNROUTABLE: z.enum(['drop', 'retry']).default('drop'),
  OUTBOX_POLL_INTERVAL: env.duration('1s'),
  API_KEYS: z.string().optional(),
  BUS_ENCRYPTION_KEYS: z.string().optional(),
  DELIVERY_CODE_KEYS: z.string().optional(),
  CODE_HMAC_KEYS: z.string().optional(),
  DELIVERY_CODE_LENGTH: env.int(6, CODE_LENGTH_MIN, CODE_LENGTH_MAX),
  DELIVERY_MERCHANT_CODE_LENGTHS: merchantLengths,
  DELIVERY_GRACE: env.duration('30m'),
  DELIVERY_MAX_ATTEMPTS: env.int(5, 1, 20),
  DELIVERY_CLOCK_TOLERANCE: env.duration('2m'),
  DELIVERY_DEVICE_CACHE_TTL: env.duration('30s'),
  DELIVERY_REGENERATE_COOLDOWN: env.duration('30s'),
  // SECURITY C9: at most 5 sends per shipment, counting the first issue.
  DELIVERY_MAX_REGENERATIONS: env.int(4, 1, 4),
  // The same shape as otp's OTP_ALLOWED_COUNTRIES / OTP_DENIED_COUNTRIES (SECURITY S3).
  DELIVERY_ALLOWED_COUNTRIES: env.callingCodes(),
  DELIVERY_DENIED_COUNTRIES: env.callingCodes(),
  DELIVERY_DEFAULT_LOCALE: z.string().regex(/^[a-z]{2}(-[A-Z]{2})?$/).default('en'),
});

/** Calling codes (digits, no +) a handoff code may be sent to by SMS (SECURITY S3). */
export interface CallingCodePolicy {
  /** Empty: every calling code. */
  readonly allowed: readonly string[];
  /** Refused even when allowed. */
  readonly denied: readonly string[];
}

export interface DeliveryOtpConfig {
  production: boolean;
  port: number;
  /** HTTP bind address. */
  host: string;
  logLevel: string;
  databaseUrl: string;
  databasePoolSize: number;
  redis: { url: string; keyPrefix: string; commandTimeoutMs: number };
  rabbitmqUrl: string;
  /**
   * What the publisher does with one of this service's own `delivery.*` events no queue is
   * bound to (delivery.handoff.* often has no consumer). Never applies to a notification request
   * (a customer's code): see outboxUnroutable.
   */
  busUnroutable: 'drop' | 'retry';
  outboxPollIntervalMs: number;
  apiKeys: ReturnType<typeof parseApiKeys>;
  /** Key variables that were unset, so the development keys are in use (never in production). */
  devKeysInUse: string[];
  busEncryptionKeys: Keyring;
  codeEncryptionKeys: Keyring;
  codeHmacKeys: Keyring;
  code: {
    length: number;
    merchantLengths: ReadonlyMap<string, number>;
    graceMs: number;
    maxAttempts: number;
    clockToleranceMs: number;
    /** The first regenerate's cooldown after the issue; it doubles with each send (SECURITY C9). */
    regenerateCooldownMs: number;
    /** Regenerations per shipment (1 to 4: with the issue, at most 5 sends, SECURITY C9). */
    maxRegenerations: number;
  };
  deviceCacheTtlMs: number;
  defaultLocale: string;
  /** Calling codes a handoff code may be sent to by SMS (SECURITY S3): `allowed` empty is every one; `denied` wins. */
  smsCallingCodes: CallingCodePolicy;
}

const KEY_VARIABLES = ['API_KEYS', 'BUS_ENCRYPTION_KEYS', 'DELIVERY_CODE_KEYS', 'CODE_HMAC_KEYS'] as const;

/** The only place that reads `process.env` for this service. */
export function loadDeliveryOtpConfig(source: NodeJS.ProcessEnv = process.env): DeliveryOtpConfig {
  const raw = loadConfig(deliveryOtpEnvSchema, source);
  const production = raw.NODE_ENV === 'production';
  const devKeysInUse: string[] = [];
  const problems: { variable: string; message: string }[] = [];
  const keyText = (name: (typeof KEY_VARIABLES)[number]): string => {
    const value = raw[name];
    if (value !== undefined) return value;
    if (production) problems.push({ variable: name, message: 'required when NODE_ENV=production' });
    devKeysInUse.push(name);
    return DEV_KEYS[name];
  };
  const keys = z.object({
    API_KEYS: z.string().transform((text, ctx) => {
      try {
        return parseApiKeys(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : 'invalid' });
        return z.NEVER;
      }
    }),
    BUS_ENCRYPTION_KEYS: env.keyring(32),
    DELIVERY_CODE_KEYS: env.keyring(32),
    CODE_HMAC_KEYS: env.keyring(32),
  });
  const keyInput = Object.fromEntries(KEY_VARIABLES.map((name) => [name, keyText(name)]));
  if (problems.length) {
    // Same error type and message shape as loadConfig, so bootstrap prints one line.
    throw new ConfigError(problems);
  }
  const parsed = loadConfig(keys, keyInput);
  return {
    production,
    port: raw.PORT,
    host: raw.HOST,
    logLevel: raw.LOG_LEVEL,
    databaseUrl: raw.DATABASE_URL,
    databasePoolSize: raw.DATABASE_POOL_SIZE,
    redis: { url: raw.REDIS_URL, keyPrefix: raw.REDIS_KEY_PREFIX, commandTimeoutMs: raw.REDIS_COMMAND_TIMEOUT },
    rabbitmqUrl: raw.RABBITMQ_URL,
    busUnroutable: raw.BUS_UNROUTABLE,
    outboxPollIntervalMs: raw.OUTBOX_POLL_INTERVAL,
    apiKeys: parsed.API_KEYS,
    devKeysInUse,
    busEncryptionKeys: parsed.BUS_ENCRYPTION_KEYS,
    codeEncryptionKeys: parsed.DELIVERY_CODE_KEYS,
    codeHmacKeys: parsed.CODE_HMAC_KEYS,
    code: {
      length: raw.DELIVERY_CODE_LENGTH,
      merchantLengths: raw.DELIVERY_MERCHANT_CODE_LENGTHS,
      graceMs: raw.DELIVERY_GRACE,
      maxAttempts: raw.DELIVERY_MAX_ATTEMPTS,
      clockToleranceMs: raw.DELIVERY_CLOCK_TOLERANCE,
      regenerateCooldownMs: raw.DELIVERY_REGENERATE_COOLDOWN,
      maxRegenerations: raw.DELIVERY_MAX_REGENERATIONS,
    },
    deviceCacheTtlMs: raw.DELIVERY_DEVICE_CACHE_TTL,
    defaultLocale: raw.DELIVERY_DEFAULT_LOCALE,
    smsCallingCodes: { allowed: raw.DELIVERY_ALLOWED_COUNTRIES, denied: raw.DELIVERY_DENIED_COUNTRIES },
  };
}

/** A keyring as libs/messaging wants it: key id → base64, and the active id. */
export function keyringToBase64(ring: Keyring): { keys: Record<string, string>; activeKeyId: string } {
  return { keys: Object.fromEntries([...ring.keys].map(([kid, key]) => [kid, key.toString('base64')])), activeKeyId: ring.activeKeyId };
}

/**
 * The outbox relay's choice per routing key when no queue is bound: only this service's own
 * `delivery.*` events follow BUS_UNROUTABLE (dropped by default); everything else, above all
 * `notification.requested` (the customer's code), is retried and stays in the outbox until a
 * queue is bound, never lost (SECURITY M1, M6).
 */
export function outboxUnroutable(config: Pick<DeliveryOtpConfig, 'busUnroutable'>): (routingKey: string) => 'retry' | 'drop' {
  return (routingKey) => (routingKey.startsWith('delivery.') ? config.busUnroutable : 'retry');
}
