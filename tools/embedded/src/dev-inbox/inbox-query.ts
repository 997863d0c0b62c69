import type { DevInboxMessage, InboxChannel, InboxItem } from './dev-inbox.types';

export const CHANNELS: readonly InboxChannel[] = ['sms', 'voice', 'email'];
export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 1000;

export interface InboxQuery {
  to?: string;
  channel?: InboxChannel;
  limit: number;
}

export interface FieldError {
  field: string;
  code: string;
  message: string;
}

export type ParsedQuery = { ok: true; query: InboxQuery } | { ok: false; errors: FieldError[] };

/**
 * A destination as the inbox keys it: an e-mail address lower-cased; a number
 * in E.164. A query string turns an unencoded `+` into a space, and people
 * paste numbers with spaces, dashes and brackets, so those are dropped and a
 * bare run of digits gets its `+` back.
 */
export function normalizeDestination(value: string): string {
  const trimmed = value.trim();
  if (trimmed.includes('@')) return trimmed.toLowerCase();
  const compact = value.replace(/[\s().-]/g, '');
  return /^\d+$/.test(compact) ? `+${compact}` : compact;
}

/** `?to=&channel=&limit=`: empty values count as absent; anything else wrong is a field error. */
export function parseInboxQuery(raw: Record<string, unknown>): ParsedQuery {
  const errors: FieldError[] = [];
  const one = (field: string): string | undefined => {
    const v = raw[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      errors.push({ field, code: 'invalid_type', message: `${field} must be given once` });
      return undefined;
    }
    return v.trim() === '' ? undefined : v;
  };
  const to = one('to');
  const channel = one('channel');
  const limitText = one('limit');
  const query: InboxQuery = { limit: DEFAULT_LIMIT };
  if (to !== undefined) {
    if (to.length > 320) errors.push({ field: 'to', code: 'too_big', message: 'to is at most 320 characters' });
    else query.to = normalizeDestination(to);
  }
  if (channel !== undefined) {
    if ((CHANNELS as readonly string[]).includes(channel)) query.channel = channel as InboxChannel;
    else errors.push({ field: 'channel', code: 'invalid_value', message: `channel must be one of ${CHANNELS.join(', ')}` });
  }
  if (limitText !== undefined) {
    const limit = /^\d{1,7}$/.test(limitText.trim()) ? Number(limitText) : NaN;
    if (Number.isInteger(limit) && limit >= 1 && limit <= MAX_LIMIT) query.limit = limit;
    else errors.push({ field: 'limit', code: 'invalid_value', message: `limit must be an integer from 1 to ${MAX_LIMIT}` });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, query };
}

/**
 * Newest first, whatever order the source keeps: by `createdAt`, then (two
 * messages in the same millisecond) by the order they were seen arriving
 * (`seqOf`, higher = later), then by their position in the source, read in the
 * direction the source evidently keeps them.
 */
export function newestFirst(messages: readonly DevInboxMessage[], seqOf: (id: string) => number | undefined): DevInboxMessage[] {
  const reversed = sourceIsNewestFirst(messages, seqOf);
  const ranked = messages.map((m, i) => ({ m, t: Date.parse(m.createdAt) || 0, seq: seqOf(m.id) ?? -1, pos: reversed ? -i : i }));
  ranked.sort((a, b) => b.t - a.t || b.seq - a.seq || b.pos - a.pos);
  return ranked.map((r) => r.m);
}

function sourceIsNewestFirst(messages: readonly DevInboxMessage[], seqOf: (id: string) => number | undefined): boolean {
  const first = messages[0];
  const last = messages[messages.length - 1];
  if (!first || !last || first === last) return false;
  const a = seqOf(first.id);
  const b = seqOf(last.id);
  if (a !== undefined && b !== undefined && a !== b) return a > b;
  return Date.parse(first.createdAt) > Date.parse(last.createdAt);
}

export function matches(m: DevInboxMessage, query: InboxQuery): boolean {
  if (query.channel !== undefined && m.channel !== query.channel) return false;
  if (query.to !== undefined && normalizeDestination(m.to) !== query.to) return false;
  return true;
}

/**
 * The one-time code a message carries, for the "use code from inbox" helper:
 * the origin-bound last line (`@host #123456`, every code template ends with
 * it), else the English "… is 123456", else a spelled-out voice code
 * ("1, 2, 3, 4, 5, 6"), else a lone six-digit number. Undefined when none is clear.
 */
export function codeOf(body: string): string | undefined {
  const lines = body.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  const last = lines[lines.length - 1] ?? '';
  const bound = /^@[^\s#]+ #([A-Za-z0-9]{3,12})$/.exec(last);
  if (bound) return bound[1];
  const stated = /\bis (\d{4,10})\b/.exec(body);
  if (stated) return stated[1];
  const spaced = /(?<!\d[, ]*)(\d(?:,? \d){3,9})(?![, ]*\d)/.exec(body);
  if (spaced?.[1]) return spaced[1].replace(/[, ]/g, '');
  const lone = body.match(/(?<![\d-])\d{6}(?![\d-])/g);
  return lone && lone.length === 1 ? lone[0] : undefined;
}

/** The API shape of one message; `status` is the notifier's latest when known. */
export function toItem(m: DevInboxMessage, status?: string): InboxItem {
  const code = codeOf(m.body);
  return {
    id: m.id,
    channel: m.channel,
    to: m.to,
    body: m.body,
    status: status ?? m.status,
    carrier: m.carrier,
    createdAt: m.createdAt,
    messageId: m.messageId,
    ...(m.subject !== undefined ? { subject: m.subject } : {}),
    ...(m.from !== undefined ? { from: m.from } : {}),
    ...(code !== undefined ? { code } : {}),
  };
}
