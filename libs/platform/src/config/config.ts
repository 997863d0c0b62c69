import { z } from 'zod';

/** A configuration problem; its message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(`invalid configuration: ${problems.map((p) => `${p.variable}: ${p.message}`).join('; ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the environment with a zod object whose keys are variable names.
 * Only `config/` modules call this; everything else receives the typed result.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    input[key] = value === '' ? undefined : value;
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? '(root)'),
        message: issue.message,
      })),
    );
  }
  return result.data;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `250ms`, `30s`, `5m`, `2h`, `7d` or a bare number of milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new Error(`not a duration: ${text}`);
  return Math.round(Number(match[1]) * UNITS[match[2] ?? 'ms']!);
}

/** Env helpers that keep every schema short and its errors clear. */
export const env = {
  duration: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((v, ctx) => {
        try {
          return parseDuration(v);
        } catch {
          ctx.addIssue({ code: 'custom', message: `expected a duration like 30s or 5m, got "${v}"` });
          return z.NEVER;
        }
      }),
  int: (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
    z.coerce.number().int().min(min).max(max).default(fallback),
  bool: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  url: (fallback?: string) => (fallback === undefined ? z.string().url() : z.string().url().default(fallback)),
  list: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean)),
  /**
   * Country calling codes, `1,44,49` (a leading `+` allowed): a list of digits without `+`;
   * anything else stops the service at start (SECURITY S3 allow and deny lists).
   */
  callingCodes: (fallback = '') =>
    env.list(fallback).transform((list, ctx) => {
      const codes = list.map((c) => c.replace(/^\+/, ''));
      if (codes.some((c) => !/^[1-9]\d{0,2}$/.test(c))) {
        ctx.addIssue({ code: 'custom', message: 'expected calling codes like 1,44,49' });
        return z.NEVER;
      }
      return codes;
    }),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Keys with ids, for rotation: `kid1:base64,kid2:base64`; the first is the
   * active one. Each must decode to `bytes` bytes.
   */
  keyring: (bytes: number, fallback?: string) =>
    (fallback === undefined ? z.string() : z.string().default(fallback)).transform((v, ctx) => {
      const keys = new Map<string, Buffer>();
      for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
        const idx = part.indexOf(':');
        const kid = part.slice(0, idx);
        const key = Buffer.from(part.slice(idx + 1), 'base64');
        if (idx <= 0 || key.length !== bytes || !/^[A-Za-z0-9_-]{1,16}$/.test(kid)) {
          ctx.addIssue({ code: 'custom', message: `expected kid:base64 entries of ${bytes} bytes` });
          return z.NEVER;
        }
        keys.set(kid, key);
      }
      const activeKeyId = keys.keys().next().value;
      if (activeKeyId === undefined) {
        ctx.addIssue({ code: 'custom', message: 'at least one key is required' });
        return z.NEVER;
      }
      return { activeKeyId, keys };
    }),
};

export type Keyring = { activeKeyId: string; keys: Map<string, Buffer> };
