import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The HTTP carriers' status-callback signature (header `X-Sim-Signature` from the simulator;
 * the same scheme the large CPaaS vendors use, each with its own header name):
 *
 *   data      = the callback URL exactly as the carrier called it (with its query string)
 *               + every POST parameter sorted by name, each as name + value, no separators
 *   signature = base64( HMAC-SHA256( key = the account's auth token, data as UTF-8 ) )
 *
 * WIRE FORMAT: never change it.
 */
export function computeCallbackSignature(
  url: string,
  params: Readonly<Record<string, string>>,
  secret: string,
): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url);
  return createHmac('sha256', secret).update(data, 'utf8').digest('base64');
}

/** Constant-time check of a status callback's signature. False for a missing or malformed one. */
export function verifyCallbackSignature(
  url: string,
  params: Readonly<Record<string, string>>,
  signature: string | undefined,
  secret: string,
): boolean {
  if (!signature || !secret) return false;
  const expected = Buffer.from(computeCallbackSignature(url, params, secret), 'base64');
  const given = Buffer.from(signature, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export const CALLBACK_SIGNATURE_HEADER = 'x-sim-signature';
