import { ConfigError, parseDuration } from '@phonegate/platform';
import { z } from 'zod';
import type { Channel } from '../carrier.types';
import type { CarrierPolicy } from '../resilience/failover.sender';
import type { RouteRule } from '../resilience/routing';

/** A duration: milliseconds as a number, or a string like `250ms`, `3s`, `1m`. */
const duration = (fallback: number, min = 1, max = 86_400_000) =>
  z
    .union([z.number(), z.string()])
    .default(fallback)
    .transform((v, ctx) => {
      let ms: number;
      try {
        ms = typeof v === 'number' ? v : parseDuration(v);
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: `expected a duration like 3s or 250ms, got "${String(v)}"`,
        });
        return z.NEVER;
      }
      if (!Number.isFinite(ms) || ms < min || ms > max) {
        ctx.addIssue({ code: 'custom', message: `must be between ${min} ms and ${max} ms` });
        return z.NEVER;
      }
      return Math.round(ms);
    });

const channel = z.enum(['sms', 'voice', 'email']);
const country = z.union([
  z.literal('*'),
  z.string().regex(/^\+[1-9]\d{0,5}$/, 'an E.164 prefix like +1 or +44, or *'),
]);

const breaker = z
  .object({
    /** B1: a breaker never opens on fewer calls than this in the window. */
    volumeThreshold: z.number().int().min(1).default(10),
    errorThresholdPercentage: z.number().min(1).max(100).default(50),
    rollingCountTimeoutMs: duration(10_000, 100),
    rollingCountBuckets: z.number().int().min(1).max(100).default(10),
    resetTimeoutMs: duration(30_000, 10),
  })
  .default({
    volumeThreshold: 10,
    errorThresholdPercentage: 50,
    rollingCountTimeoutMs: 10_000,
    rollingCountBuckets: 10,
    resetTimeoutMs: 30_000,
  });

/** What every carrier has: routing, rate ceiling, bulkhead, deadline, breaker. */
const common = {
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,49}$/, 'lower-case letters, digits, - and _ (at most 50)'),
  countries: z.array(country).min(1).default(['*']),
  /** Send-rate ceiling shared by every replica, per second. */
  ratePerSec: z.number().positive().max(100_000).default(50),
  burst: z.number().int().positive().optional(),
  maxConcurrent: z.number().int().min(1).max(10_000).default(20),
  maxQueue: z.number().int().min(0).max(100_000).default(100),
  queueWaitMs: duration(250, 0),
  /** B3: 2–5 s in production (shorter in tests). */
  timeoutMs: duration(3_000, 20, 60_000),
  breaker,
};

const smpp = z.object({
  ...common,
  type: z.literal('smpp'),
  channels: z.array(z.literal('sms')).default(['sms']),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65_535).default(2775),
  systemId: z.string().min(1).max(15),
  password: z.string().max(8),
  systemType: z.string().max(12).optional(),
  sourceAddr: z.string().min(1).max(20).default('Phonegate'),
  window: z.number().int().min(1).max(1000).default(10),
  enquireLinkMs: duration(30_000, 100),
  responseTimeoutMs: duration(10_000, 50),
  bindTimeoutMs: duration(5_000, 50),
  reconnectMinMs: duration(250, 10),
  reconnectMaxMs: duration(30_000, 10),
  registeredDelivery: z.boolean().default(true),
  maxSegments: z.number().int().min(1).max(255).default(10),
});

const http = z.object({
  ...common,
  type: z.literal('http'),
  channels: z
    .array(z.enum(['sms', 'voice']))
    .min(1)
    .default(['sms', 'voice']),
  baseUrl: z.url(),
  accountSid: z.string().min(1),
  authToken: z.string().min(1),
  from: z.string().min(1),
  /** Default `<RECEIPT_CALLBACK_BASE_URL>/v1/carriers/<id>/receipts`. */
  statusCallbackUrl: z.url().optional(),
  voiceLanguage: z.string().max(20).optional(),
});

const smtp = z.object({
  ...common,
  type: z.literal('smtp'),
  channels: z.array(z.literal('email')).default(['email']),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65_535).default(587),
  secure: z.boolean().default(false),
  requireTls: z.boolean().default(true),
  user: z.string().optional(),
  password: z.string().optional(),
  from: z.string().min(3),
  maxConnections: z.number().int().min(1).max(100).default(5),
  connectionTimeoutMs: duration(5_000, 50),
});

const devInbox = z.object({
  ...common,
  type: z.literal('dev-inbox'),
  channels: z.array(channel).min(1).default(['sms', 'voice', 'email']),
});

export const carrierDefinitionSchema = z.discriminatedUnion('type', [smpp, http, smtp, devInbox]);
export const carrierListSchema = z.array(carrierDefinitionSchema).min(1);

export type CarrierDefinition = z.infer<typeof carrierDefinitionSchema>;
export type SmppCarrierDefinition = z.infer<typeof smpp>;
export type HttpCarrierDefinition = z.infer<typeof http>;
export type SmtpCarrierDefinition = z.infer<typeof smtp>;
export type DevInboxCarrierDefinition = z.infer<typeof devInbox>;

/**
 * Defaults: the carrier simulator on its default ports (tools/carrier-sim). Fine for a laptop
 * and CI; production must set CARRIERS (`usingDefaults` says when it did not).
 */
export const DEFAULT_CARRIERS_JSON: readonly Record<string, unknown>[] = Object.freeze([
  {
    id: 'smpp-a',
    type: 'smpp',
    host: '127.0.0.1',
    port: 2775,
    systemId: 'smpp-a',
    password: 'sim-a',
    ratePerSec: 200,
  },
  {
    id: 'http-b',
    type: 'http',
    baseUrl: 'http://127.0.0.1:4010',
    accountSid: 'ACsimb',
    authToken: 'sim-token-b',
    from: '+15005550006',
    ratePerSec: 100,
  },
  {
    id: 'smtp-main',
    type: 'smtp',
    host: '127.0.0.1',
    port: 2525,
    requireTls: false,
    from: 'Phonegate <no-reply@phonegate.test>',
  },
]);

export interface CarriersConfigInput {
  /** CARRIERS: a JSON array of carrier definitions, or the compact form (see `parseCompactCarriers`). */
  carriers?: string;
  /** SMS_CARRIERS, VOICE_CARRIERS, EMAIL_CARRIERS: ids in order of preference, comma-separated. */
  sms?: string;
  voice?: string;
  email?: string;
  /** RECEIPT_CALLBACK_BASE_URL: where HTTP carriers post status callbacks. */
  receiptCallbackBaseUrl?: string;
}

export interface CarriersConfig {
  carriers: CarrierDefinition[];
  preferences: Record<Channel, string[]>;
  /** CARRIERS was not set: the simulator defaults are in use (never in production). */
  usingDefaults: boolean;
}

const COMPACT_SCHEMES: Record<string, CarrierDefinition['type']> = {
  smpp: 'smpp',
  http: 'http',
  https: 'http',
  smtp: 'smtp',
  smtps: 'smtp',
  'dev-inbox': 'dev-inbox',
};

const NUMERIC = new Set([
  'port',
  'ratePerSec',
  'burst',
  'maxConcurrent',
  'maxQueue',
  'window',
  'maxSegments',
  'maxConnections',
  'volumeThreshold',
  'errorThresholdPercentage',
  'rollingCountBuckets',
]);
const BOOLEAN = new Set(['registeredDelivery', 'secure', 'requireTls']);
const LISTS = new Set(['channels', 'countries']);
const BREAKER_KEYS = new Set([
  'volumeThreshold',
  'errorThresholdPercentage',
  'rollingCountTimeoutMs',
  'rollingCountBuckets',
  'resetTimeoutMs',
]);

/**
 * The compact CARRIERS form, one carrier per entry, entries separated by `;` or whitespace:
 *
 *   smpp-a=smpp://smpp-a:sim-a@127.0.0.1:2775?ratePerSec=200&sourceAddr=Shop
 *   http-b=http://ACsimb:sim-token-b@127.0.0.1:4010?from=%2B15005550006&channels=sms,voice
 *   smtp-main=smtp://user:pass@mail.example:587?from=no-reply%40shop.example
 *   inbox=dev-inbox:?channels=sms,email
 *
 * user:password are the SMPP system_id:password, the HTTP account SID:auth token, or the SMTP
 * login. `https://` keeps TLS for the API; `smtps://` is SMTP over TLS. Any other setting goes in
 * the query under its JSON name (lists comma-separated; breaker settings too).
 */
export function parseCompactCarriers(text: string): Record<string, unknown>[] {
  return text
    .split(/[;\s]+/)
    .filter(Boolean)
    .map((item) => {
      const eq = item.indexOf('=');
      if (eq <= 0) throw new Error(`"${item.slice(0, 20)}…": expected id=scheme://…`);
      const id = item.slice(0, eq);
      const url = new URL(item.slice(eq + 1));
      const scheme = url.protocol.replace(/:$/, '');
      const type = COMPACT_SCHEMES[scheme];
      if (!type) throw new Error(`${id}: unknown scheme ${scheme}`);
      const out: Record<string, unknown> = { id, type };
      const breakerOut: Record<string, unknown> = {};
      const user = decodeURIComponent(url.username);
      const pass = decodeURIComponent(url.password);
      if (type === 'smpp')
        Object.assign(out, {
          host: url.hostname,
          ...(url.port ? { port: Number(url.port) } : {}),
          systemId: user,
          password: pass,
        });
      if (type === 'http')
        Object.assign(out, {
          baseUrl: `${url.protocol}//${url.host}${url.pathname.replace(/\/$/, '')}`,
          accountSid: user,
          authToken: pass,
        });
      if (type === 'smtp') {
        Object.assign(out, {
          host: url.hostname,
          secure: scheme === 'smtps',
          ...(url.port ? { port: Number(url.port) } : {}),
        });
        if (user) Object.assign(out, { user, password: pass });
      }
      for (const [key, value] of url.searchParams) {
        const parsed: unknown = LISTS.has(key)
          ? value
              .split(',')
              .map((v) => v.trim())
              .filter(Boolean)
          : NUMERIC.has(key)
            ? Number(value)
            : BOOLEAN.has(key)
              ? value === 'true' || value === '1'
              : value;
        if (BREAKER_KEYS.has(key)) breakerOut[key] = parsed;
        else out[key] = parsed;
      }
      if (Object.keys(breakerOut).length) out['breaker'] = breakerOut;
      return out;
    });
}

function list(value: string | undefined): string[] | undefined {
  if (value === undefined || !value.trim()) return undefined;
  return value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}

const PREFERENCE_VARIABLE: Record<Channel, string> = {
  sms: 'SMS_CARRIERS',
  voice: 'VOICE_CARRIERS',
  email: 'EMAIL_CARRIERS',
};

/**
 * Parses the carrier configuration (pure). Throws `ConfigError` naming each bad variable:
 * CARRIERS (JSON or compact), SMS_CARRIERS / VOICE_CARRIERS / EMAIL_CARRIERS (default: every
 * carrier of the channel in CARRIERS order), RECEIPT_CALLBACK_BASE_URL (the HTTP carriers'
 * StatusCallback is `<base>/v1/carriers/<id>/receipts` unless set per carrier).
 */
export function parseCarriersConfig(input: CarriersConfigInput): CarriersConfig {
  const problems: { variable: string; message: string }[] = [];
  let raw: unknown;
  const text = input.carriers?.trim();
  const usingDefaults = !text;
  try {
    raw = !text
      ? DEFAULT_CARRIERS_JSON
      : text.startsWith('[')
        ? JSON.parse(text)
        : parseCompactCarriers(text);
  } catch (err) {
    throw new ConfigError([{ variable: 'CARRIERS', message: (err as Error).message }]);
  }
  const parsed = carrierListSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => ({
        variable: `CARRIERS${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`,
        message: i.message,
      })),
    );
  }
  const carriers = parsed.data;
  const ids = new Set<string>();
  for (const c of carriers) {
    if (ids.has(c.id))
      problems.push({ variable: 'CARRIERS', message: `duplicate carrier id ${c.id}` });
    ids.add(c.id);
  }
  const base = input.receiptCallbackBaseUrl?.replace(/\/$/, '');
  for (const c of carriers) {
    if (c.type === 'http' && !c.statusCallbackUrl && base)
      c.statusCallbackUrl = `${base}/v1/carriers/${c.id}/receipts`;
    if (c.type === 'smpp' && c.reconnectMaxMs < c.reconnectMinMs)
      problems.push({
        variable: 'CARRIERS',
        message: `${c.id}: reconnectMaxMs below reconnectMinMs`,
      });
  }
  const preferences = {} as Record<Channel, string[]>;
  for (const ch of ['sms', 'voice', 'email'] as const) {
    const given = list(input[ch]);
    const order =
      given ??
      carriers.filter((c) => (c.channels as readonly Channel[]).includes(ch)).map((c) => c.id);
    for (const id of order) {
      const c = carriers.find((x) => x.id === id);
      if (!c)
        problems.push({ variable: PREFERENCE_VARIABLE[ch], message: `unknown carrier ${id}` });
      else if (!(c.channels as readonly Channel[]).includes(ch))
        problems.push({
          variable: PREFERENCE_VARIABLE[ch],
          message: `carrier ${id} does not send ${ch}`,
        });
    }
    preferences[ch] = order;
  }
  if (problems.length) throw new ConfigError(problems);
  return { carriers, preferences, usingDefaults };
}

/** The resilience settings of one carrier, for the FailoverSender. */
export function policyOf(c: CarrierDefinition): CarrierPolicy {
  return {
    timeoutMs: c.timeoutMs,
    ratePerSec: c.ratePerSec,
    ...(c.burst !== undefined ? { burst: c.burst } : {}),
    maxConcurrent: c.maxConcurrent,
    maxQueue: c.maxQueue,
    queueWaitMs: c.queueWaitMs,
    breaker: c.breaker,
  };
}

export function routeOf(c: CarrierDefinition): RouteRule {
  return { carrierId: c.id, channels: c.channels as readonly Channel[], countries: c.countries };
}
