import { createHmac } from 'node:crypto';

/**
 * Signature of a status callback, sent in the `X-Sim-Signature` header.
 *
 * WIRE FORMAT (the notifier verifies it; never change it):
 *   data      = the full callback URL exactly as POSTed (scheme, host, port, path, query)
 *               followed by every form parameter sorted by name (code-unit order),
 *               each as name immediately followed by value, no separators
 *   signature = base64( HMAC-SHA256( key = the account's auth token, data as UTF-8 ) )
 *
 * This is the scheme the large CPaaS vendors use for their webhooks.
 */
export function signCallback(
  url: string,
  params: Readonly<Record<string, string>>,
  authToken: string,
): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url);
  return createHmac('sha256', authToken).update(data, 'utf8').digest('base64');
}

export const SIGNATURE_HEADER = 'x-sim-signature';
