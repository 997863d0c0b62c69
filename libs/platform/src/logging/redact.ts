import { maskDestination, maskPhone } from './mask';

/** Keys whose values never reach a log line. */
const SECRET_KEYS = new Set([
  'code',
  'codes',
  'otp',
  'password',
  'newpassword',
  'secret',
  'token',
  'sessiontoken',
  'accesstoken',
  'refreshtoken',
  'authorization',
  'cookie',
  'apikey',
  'body',
  'text',
  'shortmessage',
  'short_message',
  'otpauthuri',
  'variables',
  'key',
  'keys',
  'hmac',
]);
/** Keys whose values are destinations: masked to the last two digits. */
const DESTINATION_KEYS = new Set(['to', 'phone', 'e164', 'number', 'destination', 'msisdn', 'email', 'from_number']);

const E164_IN_TEXT = /\+\d{7,15}\b/g;
const CENSOR = '[redacted]';

/** Scrubs free text: any E.164-looking number is masked. */
export function scrubText(text: string): string {
  return text.replace(E164_IN_TEXT, (m) => maskPhone(m));
}

/**
 * Returns a copy of a log object with secrets censored and destinations
 * masked, at any depth (bounded), so no code, secret or full number is logged
 * whatever shape the caller passed.
 */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[deep]';
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    return { type: value.name, message: scrubText(value.message), stack: value.stack ? scrubText(value.stack) : undefined };
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (Buffer.isBuffer(value)) return `[buffer ${value.length}]`;
  // Framework objects (requests, sockets) are left to pino's serializers.
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const key = k.toLowerCase();
    if (SECRET_KEYS.has(key)) out[k] = v === undefined ? undefined : CENSOR;
    else if (DESTINATION_KEYS.has(key) && typeof v === 'string') out[k] = maskDestination(v);
    else out[k] = redact(v, depth + 1);
  }
  return out;
}
