import { DEV_KEYS, env, loadConfig, parseApiKeys } from '@phonegate/platform';
import { z } from 'zod';

/**
 * DEV-ONLY key material. Used only when NODE_ENV is not `production`; a
 * production start without the real variables fails naming them (L3).
 */
const DEV = {
  apiKeys: DEV_KEYS.apiKeys,
  busKeys: DEV_KEYS.bus,
  jwtKeys: DEV_KEYS.jwt,
};

const lineTypes = z.enum([
  'MOBILE',
  'FIXED_LINE',
  'FIXED_LINE_OR_MOBILE',
  'VOIP',
  'PREMIUM_RATE',
  'TOLL_FREE',
  'SHARED_COST',
  'PERSONAL_NUMBER',
  'PAGER',
  'UAN',
  'VOICEMAIL',
]);
export type LineType = z.infer<typeof lineTypes>;

const lineTypeList = (fallback: string) =>
  env.list(fallback).pipe(z.array(lineTypes).min(1, 'list at least one line type'));

/** `203.0.113.0/24=AU,198.51.100.0/24=US`: a small built-in IP→country table. */
const ipCountryTable = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      const out: { cidr: string; country: string }[] = [];
      for (const part of v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const match = /^([0-9a-fA-F:.]+\/\d{1,3})=([A-Z]{2})$/.exec(part);
        if (!match) {
          ctx.addIssue({ code: 'custom', message: `expected cidr=CC entries, got "${part}"` });
          return z.NEVER;
        }
        out.push({ cidr: match[1]!, country: match[2]! });
      }
      return out;
    });

/** A duration with a floor (a 0 interval would spin). */
const durationAtLeast = (fallback: string, minMs: number) =>
  env.duration(fallback).pipe(z.number().min(minMs, `must be at least ${minMs} ms`));

const keyIdOrUndefined = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,16}$/)
  .optional();

export function identityConfigSchema(production: boolean) {
  const secret = (dev: string) => (production ? z.string().min(1) : z.string().default(dev));
  return z
    .object({
      NODE_ENV: z.string().default('development'),
      PORT: env.int(3001, 1, 65_535),
      HOST: z.string().default('0.0.0.0'),
      LOG_LEVEL: env.logLevel(),
      DATABASE_URL: env.url('postgres://postgres@127.0.0.1:5432/identity'),
      DATABASE_POOL_SIZE: env.int(10, 1, 200),
      REDIS_URL: env.url('redis://127.0.0.1:6379'),
      REDIS_KEY_PREFIX: z.string().default('identity:'),
      RABBITMQ_URL: env.url('amqp://guest:guest@127.0.0.1:5672'),
      API_KEYS: secret(DEV.apiKeys).transform((v, ctx) => {
        try {
          return parseApiKeys(v);
        } catch (error) {
          ctx.addIssue({
            code: 'custom',
            message: error instanceof Error ? error.message : 'invalid',
          });
          return z.NEVER;
        }
      }),
      BUS_ENCRYPTION_KEYS: production ? env.keyring(32) : env.keyring(32, DEV.busKeys),
      BUS_ACTIVE_KEY_ID: keyIdOrUndefined,
      /** What happens to an event no queue is bound to: dropped (default) or re-sent until the publish timeout. */
      BUS_UNROUTABLE: z.enum(['drop', 'retry']).default('drop'),
      /** Ed25519 signing keys (32-byte seeds): `kid:base64,...`; all are published in the JWKS. */
      JWT_KEYS: production ? env.keyring(32) : env.keyring(32, DEV.jwtKeys),
      JWT_ACTIVE_KEY_ID: keyIdOrUndefined,
      IDENTITY_JWT_ISSUER: z.string().min(1).default('phonegate-identity'),
      IDENTITY_JWT_AUDIENCE: z.string().min(1).default('storefront'),
      IDENTITY_SESSION_TTL: env.duration('12h'),

      IDENTITY_ARGON2_MEMORY_KIB: env.int(19_456, 1_024, 4_194_304),
      IDENTITY_ARGON2_TIME_COST: env.int(2, 1, 100),
      IDENTITY_ARGON2_PARALLELISM: env.int(1, 1, 64),

      IDENTITY_OTP_TIMEOUT: env.duration('3s'),
      IDENTITY_LOGIN_TTL: env.duration('10m'),
      IDENTITY_REMEMBER_DEVICE_TTL: env.duration('30d'),
      IDENTITY_STEP_UP_TTL: env.duration('10m'),
      // At most otp's own step-up window (5 min, S8): a code step-up is also spent at otp, which
      // refuses one approved longer ago, so a longer window here would promise what otp refuses.
      IDENTITY_STEP_UP_WINDOW: env
        .duration('5m')
        .refine(
          (ms) => ms >= 30_000 && ms <= 5 * 60_000,
          'IDENTITY_STEP_UP_WINDOW must be between 30s and 5m (otp spends code step-ups within 5 minutes, S8)',
        ),
      /**
       * A password reset's life until the otp service's is known. A reset ends with its code, at
       * the otp service's OTP_RESET_TTL; identity asks the otp service for that (and its
       * OTP_MAX_ATTEMPTS) at start and every minute, keeps it in Redis for every instance, and
       * decoys follow it (S6). Set it to OTP_RESET_TTL: it serves only until the otp service answers.
       */
      IDENTITY_RESET_TTL: env.duration('10m'),
      /**
       * The otp service's wrong codes per challenge (C7), read under the otp
       * service's own name so both are set from one value: a decoy reset
       * counts its wrong codes against it, like a real one's challenge, until
       * the otp service's own is learned (see IDENTITY_RESET_TTL).
       */
      OTP_MAX_ATTEMPTS: env.int(5, 1, 10),
      /** Tries to send a reset's code (the first right after the answer) before it is given up. */
      IDENTITY_RESET_SEND_ATTEMPTS: env.int(6, 1, 20),
      /** Wait before the second try; doubled before each next one. */
      IDENTITY_RESET_SEND_RETRY: durationAtLeast('5s', 100),
      /** How often each instance looks for reset codes due to be sent again (or left by a stopped instance). */
      IDENTITY_RESET_SWEEP_INTERVAL: durationAtLeast('1s', 50),

      IDENTITY_SIGNIN_FAILURE_WINDOW: env.duration('15m'),
      IDENTITY_SIGNIN_MAX_FAILURES_PER_ACCOUNT: env.int(10, 1),
      IDENTITY_SIGNIN_MAX_FAILURES_PER_IP: env.int(100, 1),
      IDENTITY_RESET_WINDOW: env.duration('1h'),
      IDENTITY_RESET_MAX_PER_TARGET: env.int(5, 1),
      IDENTITY_RESET_MAX_PER_IP: env.int(30, 1),
      IDENTITY_FAILED_CODES_ALERT_AFTER: env.int(3, 1),
      IDENTITY_CODE_FAILURE_LOCK_AFTER: env.int(100, 1, 100),
      IDENTITY_CODE_FAILURE_WINDOW: env.duration('24h'),

      IDENTITY_SMS_LINE_TYPES: lineTypeList('MOBILE,FIXED_LINE_OR_MOBILE'),
      IDENTITY_VOICE_LINE_TYPES: lineTypeList('MOBILE,FIXED_LINE_OR_MOBILE,FIXED_LINE'),
      IDENTITY_EMAIL_BACKUP_FACTOR: env.bool(true),
      IDENTITY_TRUST_COUNTRY_HEADER: env.bool(true),
      IDENTITY_IP_COUNTRIES: ipCountryTable('192.0.2.0/24=GB,198.51.100.0/24=US,203.0.113.0/24=AU'),
    })
    .superRefine((c, ctx) => {
      if (c.JWT_ACTIVE_KEY_ID && !c.JWT_KEYS.keys.has(c.JWT_ACTIVE_KEY_ID)) {
        ctx.addIssue({
          code: 'custom',
          path: ['JWT_ACTIVE_KEY_ID'],
          message: 'is not a key id of JWT_KEYS',
        });
      }
      if (c.BUS_ACTIVE_KEY_ID && !c.BUS_ENCRYPTION_KEYS.keys.has(c.BUS_ACTIVE_KEY_ID)) {
        ctx.addIssue({
          code: 'custom',
          path: ['BUS_ACTIVE_KEY_ID'],
          message: 'is not a key id of BUS_ENCRYPTION_KEYS',
        });
      }
    });
}

export type IdentityConfig = z.infer<ReturnType<typeof identityConfigSchema>>;

/** The only place that reads process.env. */
export function loadIdentityConfig(source: NodeJS.ProcessEnv = process.env): IdentityConfig {
  return loadConfig(identityConfigSchema(source['NODE_ENV'] === 'production'), source);
}

/** The bus key id new values are encrypted with. */
export function activeBusKeyId(config: IdentityConfig): string {
  return config.BUS_ACTIVE_KEY_ID ?? config.BUS_ENCRYPTION_KEYS.activeKeyId;
}
