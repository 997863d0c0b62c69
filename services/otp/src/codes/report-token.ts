import type { KeyedHasher } from './keyed-hash';
import { digestsEqual } from './keyed-hash';

const LABEL = 'report';

/**
 * The token of an "I didn't ask for this" link: `<kid>.<base64url of the first
 * 16 bytes of HMAC(key, report|challengeId)>`. Nothing is stored: the token is
 * recomputed and compared in constant time.
 */
export function reportToken(hasher: KeyedHasher, challengeId: string): string {
  const mac = hasher.labelled(LABEL, challengeId) as { kid: string; digest: Buffer };
  return `${mac.kid}.${mac.digest.subarray(0, 16).toString('base64url')}`;
}

export function verifyReportToken(
  hasher: KeyedHasher,
  challengeId: string,
  token: string,
): boolean {
  const dot = token.indexOf('.');
  if (dot <= 0 || token.length > 80) return false;
  const kid = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = hasher.labelled(LABEL, challengeId, kid)?.digest.subarray(0, 16);
  // Pad both to 32 bytes so the constant-time compare sees equal lengths.
  const pad = (b: Buffer | undefined) =>
    b && b.length === 16 ? Buffer.concat([b, Buffer.alloc(16)]) : undefined;
  return digestsEqual(pad(given), pad(expected));
}
