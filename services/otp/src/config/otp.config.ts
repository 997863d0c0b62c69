import { DEV_KEYS as PLATFORM_DEV_KEYS, env, loadConfig, parseApiKeys, parseDuration } from '@phonegate/platform';
import { z } from 'zod';
import type { Channel } from '@phonegate/contracts';

/**
 * Dev-only keys (fixed, public): used only when NODE_ENV is not `production`,
 * so `npm start` and tests run without setup. Production refuses to start
 * without real keys (SECURITY L3).
 */
const DEV_KEYS = {
  bus: PLATFORM_DEV_KEYS.bus,
  codeHmac: PLATFORM_DEV_KEYS.hmac,
  secret: PLATFORM_DEV_KEYS.secret,
  apiKeys: PLATFORM_DEV_KEYS.apiKeys,
};

/** One sliding-window limit: `max` sends per `windowMs`. */
export interface WindowLimit {
  max: number;
  windowMs: number;
}

/** `5/15m,10/1d` → two windows. An empty string means no limit. */
export function parseLimits(text: string): WindowLimit[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((part) => {
      const m = /^(\d+)\s*\/\s*(\S+)$/.exec(part);
      if (!m) throw new Error(`expected N/duration, got "${part}"`);
      const max = Number(m[1]);
      const windowMs = parseDuration(m[2] as string);
      if (max < 1 || windowMs < 1000)
        throw new Error(`limit "${part}" must allow at least 1 per at least 1s`);
      return { max, windowMs };
    });
}

const limits = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      try {
        return parseLimits(v);
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          message: error instanceof Error ? error.message : String(error),
        });
        return z.NEVER;
      }
    });

/** Calling codes, e.g. `1,44,49` (a leading + is allowed). */
/** `44:5000,234:200` → per calling code daily ceilings. */
const ceilings = z
  .string()
  .default('')
  .transform((v, ctx) => {
    const out = new Map<string, number>();
    for (const part of v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const m = /^\+?(\d{1,3}):(\d+)$/.exec(part);
      if (!m) {
        ctx.addIssue({ code: 'custom', message: `expected cc:count entries, got "${part}"` });
        return z.NEVER;
      }
      out.set(m[1] as string, Number(m[2]));
    }
    return out;
  });

const channels = (fallback: string) =>
  env.list(fallback).pipe(z.array(z.enum(['sms', 'voice', 'email'])).min(1));

const ttl = (fallback: string, maxMs: number, what: string) =>
  env
    .duration(fallback)
    .refine(
      (ms) => ms >= 30_000 && ms <= maxMs,
      `${what} must be between 30s and ${maxMs / 60_000}m (SECURITY C4)`,
    );

/**
 * The longest pumping prefix (OTP_PUMP_PREFIX_LENGTH) allowed: it is a metric label and goes
 * into logs (SECURITY L1), so it must name a range, not a number. Each number's prefix is also
 * cut short of its last digits (limits/phone-policy `pumpPrefix`), for short numbers.
 */
export const PUMP_PREFIX_MAX_LENGTH = 8;

/**
 * How long after its approval a step-up verification may allow one factor change (S8: a fresh
 * code), as identity's IDENTITY_STEP_UP_WINDOW by default.
 */
export const STEP_UP_WINDOW_MS = 5 * 60_000;

function schema(production: boolean) {
  const dev = <T extends string>(value: T) => (production ? undefined : value);
  return z.object({
    NODE_ENV: z.string().default('development'),
    PORT: env.int(3002, 0, 65_535),
    HOST: z.string().min(1).default('0.0.0.0'),
    LOG_LEVEL: env.logLevel(),
    DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/otp'),
    DATABASE_POOL_SIZE: env.int(20, 1, 200),
    REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
    REDIS_KEY_PREFIX: z.string().default('otp:'),
    REDIS_COMMAND_TIMEOUT: env.duration('1s'),
    RABBITMQ_URL: z.string().default('amqp://guest:guest@127.0.0.1:5672'),
    API_KEYS: (production ? z.string() : z.string().default(DEV_KEYS.apiKeys)).transform(
      (v, ctx) => {
        try {
          return parseApiKeys(v);
        } catch (error) {
          ctx.addIssue({
            code: 'custom',
            message: error instanceof Error ? error.message : String(error),
          });
          return z.NEVER;
        }
      },
    ),
    BUS_ENCRYPTION_KEYS: env.keyring(32, dev(DEV_KEYS.bus)),
    CODE_HMAC_KEYS: env.keyring(32, dev(DEV_KEYS.codeHmac)),
    OTP_SECRET_KEYS: env.keyring(32, dev(DEV_KEYS.secret)),

    OTP_CODE_LENGTH: env.int(6, 6, 10),
    OTP_SIGNIN_TTL: ttl('5m', 5 * 60_000, 'OTP_SIGNIN_TTL'),
    OTP_PHONE_TTL: ttl('10m', 10 * 60_000, 'OTP_PHONE_TTL'),
    OTP_STEPUP_TTL: ttl('5m', 5 * 60_000, 'OTP_STEPUP_TTL'),
    OTP_RESET_TTL: ttl('10m', 10 * 60_000, 'OTP_RESET_TTL'),
    OTP_CUSTOM_TTL: ttl('10m', 10 * 60_000, 'OTP_CUSTOM_TTL'),
    OTP_EMAIL_TTL: ttl('30m', 24 * 3_600_000, 'OTP_EMAIL_TTL'),
    OTP_CHALLENGE_RETENTION: env.duration('1h'),
    OTP_MAX_ATTEMPTS: env.int(5, 1, 10),
    OTP_MAX_SENDS: env.int(5, 1, 10),
    OTP_RESEND_COOLDOWN: env.duration('30s'),
    OTP_RESEND_COOLDOWN_MAX: env.duration('10m'),
    OTP_ACCOUNT_FAILURE_LIMIT: env.int(100, 1, 100),
    OTP_ACCOUNT_FAILURE_WINDOW: env.duration('24h'),
    OTP_ACCOUNT_LOCK_DURATION: env.duration('1h'),

    OTP_LIMIT_DESTINATION: limits('5/15m,10/1d'),
    OTP_LIMIT_ACCOUNT: limits('10/15m,20/1d'),
    OTP_LIMIT_IP: limits('20/15m,100/1d'),
    OTP_LIMIT_COUNTRY: limits('600/1m'),
    OTP_COUNTRY_DAILY_CEILING: env.int(100_000, 1),
    OTP_COUNTRY_DAILY_CEILINGS: ceilings,
    OTP_FACTOR_LIMIT: limits('5/5m'),
    OTP_ALLOWED_COUNTRIES: env.callingCodes(),
    OTP_DENIED_COUNTRIES: env.callingCodes(),
    OTP_REFUSE_VOIP: env.bool(true),
    OTP_REFUSE_PREMIUM_RATE: env.bool(true),

    OTP_PUMP_PREFIX_LENGTH: env
      .int(5, 2)
      .refine(
        (n) => n <= PUMP_PREFIX_MAX_LENGTH,
        `OTP_PUMP_PREFIX_LENGTH must be at most ${PUMP_PREFIX_MAX_LENGTH} digits: the prefix is a metric label and goes into logs, and a longer one names a number, not a range (SECURITY L1)`,
      ),
    OTP_PUMP_BLOCK_DIGITS: env.int(2, 1, 4),
    OTP_PUMP_ADJACENT_WINDOW: env.duration('10m'),
    OTP_PUMP_ADJACENT_THRESHOLD: env.int(6, 3, 1000),
    OTP_PUMP_RATIO_WINDOW: env.duration('1h'),
    OTP_PUMP_RATIO_MIN_SENDS: env.int(50, 5),
    OTP_PUMP_RATIO_THRESHOLD: z.coerce.number().min(0).max(1).default(0.1),
    OTP_PUMP_QUARANTINE_TTL: env.duration('1h'),

    OTP_UNREQUESTED_THRESHOLD: env.int(3, 2, 100),
    OTP_UNREQUESTED_WINDOW: env.duration('24h'),

    OTP_ORIGIN_HOST: z.string().min(1).default('localhost'),
    OTP_PUBLIC_BASE_URL: env.url('http://localhost:3002').transform((u) => u.replace(/\/+$/, '')),
    // `confirm`: a GET of the link (an e-mail link scanner, a message preview) must not kill a code.
    OTP_REPORT_GET: z.enum(['report', 'confirm']).default('confirm'),
    OTP_TOTP_ISSUER: z.string().min(1).max(60).default('Phonegate'),
    OTP_AUTO_FALLBACK: env.bool(false),
    // S8: the e-mail is told when an authenticator is replaced and when backup codes are reissued.
    OTP_FACTOR_ALERTS: env.bool(true),
    OTP_EMAIL_SIGNIN_FALLBACK: env.bool(false),
    OTP_FALLBACK_ORDER: channels('sms,voice,email'),
    OTP_EXPIRY_SWEEP_INTERVAL: env.duration('5s'),
    OTP_BUS_PREFETCH: env.int(200, 1, 1000),
    OTP_PUBLISH_TIMEOUT: env.duration('5s'),
    // How long an enrolment waits for identity's answer about an account otp has not heard of.
    OTP_ACCOUNT_LOOKUP_TIMEOUT: env.duration('2s'),
  });
}

export type OtpEnv = z.infer<ReturnType<typeof schema>>;

/** The env schema (keys = variable names) by mode; tools/deploy-check reads it. */
export const otpEnvSchema: (production: boolean) => ReturnType<typeof schema> = schema;

/** The typed configuration of the otp service; the only place reading process.env. */
export function loadOtpConfig(source: NodeJS.ProcessEnv = process.env): OtpConfig {
  const production = source['NODE_ENV'] === 'production';
  return toConfig(loadConfig(schema(production), source));
}

export interface OtpConfig {
  env: OtpEnv;
  production: boolean;
  port: number;
  host: string;
  logLevel: string;
  databaseUrl: string;
  databasePoolSize: number;
  redis: { url: string; keyPrefix: string; commandTimeoutMs: number };
  rabbitmqUrl: string;
  apiKeys: OtpEnv['API_KEYS'];
  busKeys: OtpEnv['BUS_ENCRYPTION_KEYS'];
  codeKeys: OtpEnv['CODE_HMAC_KEYS'];
  secretKeys: OtpEnv['OTP_SECRET_KEYS'];
  codes: {
    length: number;
    ttlMs: {
      sign_in: number;
      phone_verification: number;
      step_up: number;
      password_reset: number;
      custom: number;
      email: number;
    };
    retentionMs: number;
    maxAttempts: number;
    maxSends: number;
    cooldownMs: number;
    cooldownMaxMs: number;
  };
  /** How long after its approval a step-up verification may allow one factor change (S8). */
  stepUpWindowMs: number;
  account: {
    failureLimit: number;
    failureWindowMs: number;
    lockMs: number;
    unrequestedThreshold: number;
    unrequestedWindowMs: number;
  };
  limits: {
    destination: WindowLimit[];
    account: WindowLimit[];
    ip: WindowLimit[];
    country: WindowLimit[];
    countryDailyCeiling: number;
    countryDailyCeilings: Map<string, number>;
    factor: WindowLimit[];
  };
  phones: { allowed: string[]; denied: string[]; refuseVoip: boolean; refusePremiumRate: boolean };
  pumping: {
    prefixLength: number;
    blockDigits: number;
    adjacentWindowMs: number;
    adjacentThreshold: number;
    ratioWindowMs: number;
    ratioMinSends: number;
    ratioThreshold: number;
    quarantineMs: number;
  };
  originHost: string;
  publicBaseUrl: string;
  reportGet: 'report' | 'confirm';
  totpIssuer: string;
  autoFallback: boolean;
  /**
   * E-mail the owner when an authenticator is replaced or backup codes are reissued, through the
   * outbox; on by default (S8: the e-mail is told of a two-step change).
   */
  factorAlerts: boolean;
  fallbackOrder: Channel[];
  /** Offer e-mail as a fallback for sign-in and step-up codes (weaker, SECURITY S7). */
  emailSignInFallback: boolean;
  sweepIntervalMs: number;
  busPrefetch: number;
  /** How long a publish may wait for the broker's confirm before the request answers 503. */
  publishTimeoutMs: number;
  /** identity's deadline to say whether an account otp has not heard of exists (`identity.account.exists.v1`). */
  accountLookupTimeoutMs: number;
}

export function toConfig(e: OtpEnv): OtpConfig {
  return {
    env: e,
    production: e.NODE_ENV === 'production',
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    redis: {
      url: e.REDIS_URL,
      keyPrefix: e.REDIS_KEY_PREFIX,
      commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT,
    },
    rabbitmqUrl: e.RABBITMQ_URL,
    apiKeys: e.API_KEYS,
    busKeys: e.BUS_ENCRYPTION_KEYS,
    codeKeys: e.CODE_HMAC_KEYS,
    secretKeys: e.OTP_SECRET_KEYS,
    codes: {
      length: e.OTP_CODE_LENGTH,
      ttlMs: {
        sign_in: e.OTP_SIGNIN_TTL,
        phone_verification: e.OTP_PHONE_TTL,
        step_up: e.OTP_STEPUP_TTL,
        password_reset: e.OTP_RESET_TTL,
        custom: e.OTP_CUSTOM_TTL,
        email: e.OTP_EMAIL_TTL,
      },
      retentionMs: e.OTP_CHALLENGE_RETENTION,
      maxAttempts: e.OTP_MAX_ATTEMPTS,
      maxSends: e.OTP_MAX_SENDS,
      cooldownMs: e.OTP_RESEND_COOLDOWN,
      cooldownMaxMs: e.OTP_RESEND_COOLDOWN_MAX,
    },
    stepUpWindowMs: STEP_UP_WINDOW_MS,
    account: {
      failureLimit: e.OTP_ACCOUNT_FAILURE_LIMIT,
      failureWindowMs: e.OTP_ACCOUNT_FAILURE_WINDOW,
      lockMs: e.OTP_ACCOUNT_LOCK_DURATION,
      unrequestedThreshold: e.OTP_UNREQUESTED_THRESHOLD,
      unrequestedWindowMs: e.OTP_UNREQUESTED_WINDOW,
    },
    limits: {
      destination: e.OTP_LIMIT_DESTINATION,
      account: e.OTP_LIMIT_ACCOUNT,
      ip: e.OTP_LIMIT_IP,
      country: e.OTP_LIMIT_COUNTRY,
      countryDailyCeiling: e.OTP_COUNTRY_DAILY_CEILING,
      countryDailyCeilings: e.OTP_COUNTRY_DAILY_CEILINGS,
      factor: e.OTP_FACTOR_LIMIT,
    },
    phones: {
      allowed: e.OTP_ALLOWED_COUNTRIES,
      denied: e.OTP_DENIED_COUNTRIES,
      refuseVoip: e.OTP_REFUSE_VOIP,
      refusePremiumRate: e.OTP_REFUSE_PREMIUM_RATE,
    },
    pumping: {
      prefixLength: e.OTP_PUMP_PREFIX_LENGTH,
      blockDigits: e.OTP_PUMP_BLOCK_DIGITS,
      adjacentWindowMs: e.OTP_PUMP_ADJACENT_WINDOW,
      adjacentThreshold: e.OTP_PUMP_ADJACENT_THRESHOLD,
      ratioWindowMs: e.OTP_PUMP_RATIO_WINDOW,
      ratioMinSends: e.OTP_PUMP_RATIO_MIN_SENDS,
      ratioThreshold: e.OTP_PUMP_RATIO_THRESHOLD,
      quarantineMs: e.OTP_PUMP_QUARANTINE_TTL,
    },
    originHost: e.OTP_ORIGIN_HOST,
    publicBaseUrl: e.OTP_PUBLIC_BASE_URL,
    reportGet: e.OTP_REPORT_GET,
    totpIssuer: e.OTP_TOTP_ISSUER,
    autoFallback: e.OTP_AUTO_FALLBACK,
    factorAlerts: e.OTP_FACTOR_ALERTS,
    fallbackOrder: e.OTP_FALLBACK_ORDER,
    emailSignInFallback: e.OTP_EMAIL_SIGNIN_FALLBACK,
    sweepIntervalMs: e.OTP_EXPIRY_SWEEP_INTERVAL,
    busPrefetch: e.OTP_BUS_PREFETCH,
    publishTimeoutMs: e.OTP_PUBLISH_TIMEOUT,
    accountLookupTimeoutMs: e.OTP_ACCOUNT_LOOKUP_TIMEOUT,
  };
}
