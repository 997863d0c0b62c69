import {
  ConfigError,
  env,
  loadConfig,
  parseApiKeys,
  parseDuration,
  type ConfiguredKey,
  type Keyring,
} from '@phonegate/platform';
import { z } from 'zod';
import { type CarriersConfig, parseCarriersConfig } from '../carriers';

/**
 * DEV-ONLY key material: used only when NODE_ENV is not `production` and the
 * variable is unset. A production start without the real variables fails,
 * naming them (SECURITY L3).
 */
const DEV = {
  apiKeys: 'dev:storefront+logistics+ops',
  busKeys: `dev1:${Buffer.from('phonegate-dev-bus-key-32-bytes!!').toString('base64')}`,
  destinationKeys: `dev1:${Buffer.from('phonegate-dev-hmac-key-32-bytes!').toString('base64')}`,
};

const keyId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,16}$/)
  .optional();

/** Prefetch (unacked messages held) and concurrency (messages worked on at once) of one priority queue. */
const lane = (prefetch: number, concurrency: number, consumers = 1) => ({
  prefetch,
  concurrency,
  consumers,
});

/**
 * Every environment variable the notifier reads, with its default. This is the
 * only place that reads `process.env`; README.md lists the same table.
 */
export const notifierEnvSchema = z.object({
  NODE_ENV: z.string().default('development'),
  PORT: env.int(3003, 0, 65_535),
  HOST: z.string().default('0.0.0.0'),
  LOG_LEVEL: env.logLevel(),
  DATABASE_URL: env.url('postgres://postgres@127.0.0.1:5432/notifier'),
  NOTIFIER_DB_POOL_SIZE: env.int(40, 1, 200),
  REDIS_URL: env.url('redis://127.0.0.1:6379'),
  REDIS_KEY_PREFIX: z.string().default('notifier:'),
  RABBITMQ_URL: env.url('amqp://guest:guest@127.0.0.1:5672'),
  API_KEYS: z.string().optional(),
  BUS_ENCRYPTION_KEYS: z.string().optional(),
  BUS_ACTIVE_KEY_ID: keyId,
  NOTIFIER_DESTINATION_HASH_KEYS: z.string().optional(),

  // Carriers (parsed by src/carriers): the JSON list of carriers and, per channel, ids in order of preference.
  CARRIERS: z.string().optional(),
  SMS_CARRIERS: z.string().optional(),
  VOICE_CARRIERS: z.string().optional(),
  EMAIL_CARRIERS: z.string().optional(),
  /** Base URL carriers post delivery receipts to: `<base>/v1/carriers/<carrier>/receipts`. */
  RECEIPT_CALLBACK_BASE_URL: env.url('http://127.0.0.1:3003'),

  // Priority lanes: separate queues, each with its own prefetch, concurrency and consumer channels.
  NOTIFIER_CRITICAL_PREFETCH: env.int(100, 1, 1000),
  NOTIFIER_CRITICAL_CONCURRENCY: env.int(32, 1, 1000),
  NOTIFIER_CRITICAL_CONSUMERS: env.int(1, 1, 16),
  NOTIFIER_STANDARD_PREFETCH: env.int(100, 1, 1000),
  NOTIFIER_STANDARD_CONCURRENCY: env.int(32, 1, 1000),
  NOTIFIER_STANDARD_CONSUMERS: env.int(1, 1, 16),
  NOTIFIER_BULK_PREFETCH: env.int(100, 1, 1000),
  NOTIFIER_BULK_CONCURRENCY: env.int(16, 1, 1000),
  NOTIFIER_BULK_CONSUMERS: env.int(1, 1, 16),
  /** How long a standard / bulk message waits for the higher lanes to go idle before it starts anyway. */
  NOTIFIER_STANDARD_YIELD: env.duration('20ms'),
  NOTIFIER_BULK_YIELD: env.duration('50ms'),
  NOTIFIER_CODES_LATE_LAG: env.duration('250ms'),
  NOTIFIER_LOWER_LANE_HOLD: env.duration('2s'),
  /** Prefetch of `notifier.events` (contact projection). */
  NOTIFIER_EVENTS_PREFETCH: env.int(100, 1, 1000),

  /** Deadline of a message without `notAfter`, counted from its request time, per priority. */
  NOTIFIER_CRITICAL_TTL: env.duration('10m'),
  NOTIFIER_STANDARD_TTL: env.duration('6h'),
  NOTIFIER_BULK_TTL: env.duration('24h'),
  /** In-process back-off between send attempts when every carrier failed (the last one repeats). */
  NOTIFIER_RETRY_DELAYS: env
    .list('250ms,500ms,1s,2s,4s')
    .transform((list, ctx) => list.map((d) => toMs(d, ctx))),
  /**
   * How long one delivery of a message may be held retrying in process; past it the
   * message goes round the bus retry tiers (below RabbitMQ's consumer timeout).
   */
  NOTIFIER_RETRY_HOLD: env.duration('2m'),
  /** Bus retry tiers (delay queues) for messages handed back to the bus. */
  NOTIFIER_BUS_RETRY_DELAYS: env
    .list('5s,30s,2m,10m')
    .transform((list, ctx) => list.map((d) => toMs(d, ctx))),
  NOTIFIER_BUS_MAX_ATTEMPTS: env.int(30, 1, 1000),
  /** How long `dedupeKey`s are remembered in Redis (the message log's unique index keeps them for good). */
  NOTIFIER_DEDUPE_TTL: env.duration('24h'),

  /** Host of the origin-bound `@host #code` line when a request names none. */
  NOTIFIER_ORIGIN_HOST: z.string().min(1).default('localhost'),
  /** Brand named in message texts; the origin host when empty. */
  NOTIFIER_BRAND: z.string().default(''),
  /** How long a delivery receipt waits for its message's `sent` record (receipts can beat it). */
  NOTIFIER_RECEIPT_MATCH_WAIT: env.duration('3s'),
  /**
   * B6, the delivery-rate signal: a carrier's breaker opens when, over the last
   * NOTIFIER_RECEIPT_WINDOW, at least NOTIFIER_RECEIPT_MIN_COUNT of its receipts came back and
   * more than NOTIFIER_RECEIPT_FAILED_SHARE of them failed (the recipient's fault not counted).
   * A share of 1 turns the signal off.
   */
  NOTIFIER_RECEIPT_WINDOW: env.duration('60s'),
  NOTIFIER_RECEIPT_MIN_COUNT: env.int(20, 1, 1_000_000),
  NOTIFIER_RECEIPT_FAILED_SHARE: z.coerce.number().min(0).max(1).default(0.5),
  NOTIFIER_OUTBOX_POLL_INTERVAL: env.duration('500ms'),
});

function toMs(text: string, ctx: z.RefinementCtx): number {
  try {
    const ms = parseDuration(text);
    if (ms > 0) return ms;
  } catch {
    // reported below
  }
  ctx.addIssue({ code: 'custom', message: `expected durations like 500ms or 2s, got "${text}"` });
  return z.NEVER;
}

export type NotifierEnv = z.infer<typeof notifierEnvSchema>;

export interface LaneConfig {
  prefetch: number;
  concurrency: number;
  consumers: number;
  /** Deadline of a message that has no notAfter. */
  ttlMs: number;
}

export interface NotifierConfig {
  production: boolean;
  port: number;
  host: string;
  logLevel: string;
  databaseUrl: string;
  dbPoolSize: number;
  redis: { url: string; keyPrefix: string };
  rabbitmqUrl: string;
  apiKeys: ConfiguredKey[];
  bus: {
    keys: Record<string, string>;
    activeKeyId: string;
    retryDelaysMs: number[];
    maxAttempts: number;
    eventsPrefetch: number;
  };
  destinationHashKeys: Keyring;
  /** Parsed CARRIERS, SMS_CARRIERS, VOICE_CARRIERS, EMAIL_CARRIERS (src/carriers). */
  carriers: CarriersConfig & { receiptCallbackBaseUrl: string };
  lanes: { critical: LaneConfig; standard: LaneConfig; bulk: LaneConfig };
  yieldMs: { standard: number; bulk: number };
  /** Codes are late past this start lag; lower-lane messages are then held up to `lowerLaneHoldMs`. */
  codesLateLagMs: number;
  lowerLaneHoldMs: number;
  retry: { delaysMs: number[]; holdMs: number };
  dedupeTtlMs: number;
  templates: { host: string; brand: string };
  receiptMatchWaitMs: number;
  /** The delivery-rate signal that opens a carrier's breaker (B6). */
  deliveryRate: { windowMs: number; minReceipts: number; maxFailedShare: number };
  outboxPollMs: number;
  /** Key variables left unset, so the development keys are in use (never in production). */
  devKeysInUse: string[];
}

/** Parses the environment once at boot; throws ConfigError naming every bad variable. */
export function loadNotifierConfig(source: NodeJS.ProcessEnv = process.env): NotifierConfig {
  const raw = loadConfig(notifierEnvSchema, source);
  const production = raw.NODE_ENV === 'production';
  const problems: { variable: string; message: string }[] = [];
  const devKeysInUse: string[] = [];
  const secret = (
    name: 'API_KEYS' | 'BUS_ENCRYPTION_KEYS' | 'NOTIFIER_DESTINATION_HASH_KEYS',
    dev: string,
  ): string => {
    const value = raw[name];
    if (value) return value;
    if (production) problems.push({ variable: name, message: 'required when NODE_ENV=production' });
    devKeysInUse.push(name);
    return dev;
  };
  const apiKeysText = secret('API_KEYS', DEV.apiKeys);
  const busKeysText = secret('BUS_ENCRYPTION_KEYS', DEV.busKeys);
  const hashKeysText = secret('NOTIFIER_DESTINATION_HASH_KEYS', DEV.destinationKeys);

  let apiKeys: ConfiguredKey[] = [];
  try {
    apiKeys = parseApiKeys(apiKeysText);
  } catch (error) {
    problems.push({ variable: 'API_KEYS', message: (error as Error).message });
  }
  const keyring = (variable: string, text: string): Keyring | undefined => {
    const parsed = env.keyring(32).safeParse(text);
    if (parsed.success) return parsed.data;
    problems.push({ variable, message: parsed.error.issues[0]?.message ?? 'invalid' });
    return undefined;
  };
  const busKeys = keyring('BUS_ENCRYPTION_KEYS', busKeysText);
  const hashKeys = keyring('NOTIFIER_DESTINATION_HASH_KEYS', hashKeysText);
  if (busKeys && raw.BUS_ACTIVE_KEY_ID && !busKeys.keys.has(raw.BUS_ACTIVE_KEY_ID)) {
    problems.push({
      variable: 'BUS_ACTIVE_KEY_ID',
      message: 'is not a key id of BUS_ENCRYPTION_KEYS',
    });
  }
  const receiptCallbackBaseUrl = raw.RECEIPT_CALLBACK_BASE_URL.replace(/\/+$/, '');
  let carriers: CarriersConfig | undefined;
  try {
    carriers = parseCarriersConfig({
      ...(raw.CARRIERS ? { carriers: raw.CARRIERS } : {}),
      ...(raw.SMS_CARRIERS ? { sms: raw.SMS_CARRIERS } : {}),
      ...(raw.VOICE_CARRIERS ? { voice: raw.VOICE_CARRIERS } : {}),
      ...(raw.EMAIL_CARRIERS ? { email: raw.EMAIL_CARRIERS } : {}),
      receiptCallbackBaseUrl,
    });
    if (production && carriers.usingDefaults)
      problems.push({ variable: 'CARRIERS', message: 'required when NODE_ENV=production' });
  } catch (error) {
    if (error instanceof ConfigError) problems.push(...error.problems);
    else throw error;
  }
  if (problems.length || !busKeys || !hashKeys || !carriers) throw new ConfigError(problems);

  const laneOf = (p: 'CRITICAL' | 'STANDARD' | 'BULK'): LaneConfig => ({
    ...lane(
      raw[`NOTIFIER_${p}_PREFETCH`],
      raw[`NOTIFIER_${p}_CONCURRENCY`],
      raw[`NOTIFIER_${p}_CONSUMERS`],
    ),
    ttlMs: raw[`NOTIFIER_${p}_TTL`],
  });

  return {
    production,
    port: raw.PORT,
    host: raw.HOST,
    logLevel: raw.LOG_LEVEL,
    databaseUrl: raw.DATABASE_URL,
    dbPoolSize: raw.NOTIFIER_DB_POOL_SIZE,
    redis: { url: raw.REDIS_URL, keyPrefix: raw.REDIS_KEY_PREFIX },
    rabbitmqUrl: raw.RABBITMQ_URL,
    apiKeys,
    bus: {
      keys: Object.fromEntries(
        [...busKeys.keys].map(([kid, key]) => [kid, key.toString('base64')]),
      ),
      activeKeyId: raw.BUS_ACTIVE_KEY_ID ?? busKeys.activeKeyId,
      retryDelaysMs: raw.NOTIFIER_BUS_RETRY_DELAYS,
      maxAttempts: raw.NOTIFIER_BUS_MAX_ATTEMPTS,
      eventsPrefetch: raw.NOTIFIER_EVENTS_PREFETCH,
    },
    destinationHashKeys: hashKeys,
    carriers: { ...carriers, receiptCallbackBaseUrl },
    lanes: { critical: laneOf('CRITICAL'), standard: laneOf('STANDARD'), bulk: laneOf('BULK') },
    yieldMs: { standard: raw.NOTIFIER_STANDARD_YIELD, bulk: raw.NOTIFIER_BULK_YIELD },
    codesLateLagMs: raw.NOTIFIER_CODES_LATE_LAG,
    lowerLaneHoldMs: raw.NOTIFIER_LOWER_LANE_HOLD,
    retry: { delaysMs: raw.NOTIFIER_RETRY_DELAYS, holdMs: raw.NOTIFIER_RETRY_HOLD },
    dedupeTtlMs: raw.NOTIFIER_DEDUPE_TTL,
    templates: { host: raw.NOTIFIER_ORIGIN_HOST, brand: raw.NOTIFIER_BRAND },
    receiptMatchWaitMs: raw.NOTIFIER_RECEIPT_MATCH_WAIT,
    deliveryRate: {
      windowMs: raw.NOTIFIER_RECEIPT_WINDOW,
      minReceipts: raw.NOTIFIER_RECEIPT_MIN_COUNT,
      maxFailedShare: raw.NOTIFIER_RECEIPT_FAILED_SHARE,
    },
    outboxPollMs: raw.NOTIFIER_OUTBOX_POLL_INTERVAL,
    devKeysInUse,
  };
}
