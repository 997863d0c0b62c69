import { randomBytes } from 'node:crypto';

/** A provider id: prefix + hex (SMPP message ids ≤ 64 characters; HTTP sids like SMxxxx / CAxxxx). */
export function providerId(prefix: string, bytes = 12): string {
  return prefix + randomBytes(bytes).toString('hex');
}
