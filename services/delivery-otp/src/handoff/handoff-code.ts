import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomInt } from 'node:crypto';
import type { Keyring } from '@phonegate/platform';

/**
 * Pure code handling for delivery handoff codes (ARCHITECTURE.md "Rules for
 * codes", SECURITY.md C1-C3, L3): drawing, AES-256-GCM sealing so the
 * customer's app can show the code again, and the keyed hash that the atomic
 * check compares. Nothing here logs or stores anything.
 */

export const MIN_CODE_LENGTH = 4;
export const MAX_CODE_LENGTH = 6;

/** A code of `length` decimal digits from the CSPRNG, leading zeros kept (C1). */
export function drawCode(length: number): string {
  if (!Number.isInteger(length) || length < MIN_CODE_LENGTH || length > MAX_CODE_LENGTH) {
    throw new RangeError(`code length must be ${MIN_CODE_LENGTH} to ${MAX_CODE_LENGTH}`);
  }
  return randomInt(0, 10 ** length).toString().padStart(length, '0');
}

/** The configured length for a merchant, else the default. */
export function codeLengthFor(settings: { length: number; merchantLengths: ReadonlyMap<string, number> }, merchantId?: string | null): number {
  return (merchantId ? settings.merchantLengths.get(merchantId) : undefined) ?? settings.length;
}

const SEALED_VERSION = 'v1';

/**
 * Seals a code with the active key: `v1.<kid>.<iv>.<ciphertext>.<tag>`
 * (base64url parts). The key id travels in the value so keys can rotate (L3);
 * `context` (see sealContext) is bound as additional data, so a sealed value
 * copied to another shipment does not open.
 */
export function sealCode(keys: Keyring, code: string, context: string): string {
  const key = keys.keys.get(keys.activeKeyId);
  if (!key) throw new Error('active code key missing');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(code, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [SEALED_VERSION, keys.activeKeyId, iv.toString('base64url'), ciphertext.toString('base64url'), tag.toString('base64url')].join('.');
}

export class SealedCodeError extends Error {
  constructor(reason: string) {
    super(`sealed code cannot be opened: ${reason}`);
    this.name = 'SealedCodeError';
  }
}

/** Opens a sealed code with the key its id names; throws SealedCodeError on any mismatch. */
export function openCode(keys: Keyring, sealed: string, context: string): string {
  const parts = sealed.split('.');
  if (parts.length !== 5 || parts[0] !== SEALED_VERSION) throw new SealedCodeError('format');
  const [, kid, iv, ciphertext, tag] = parts as [string, string, string, string, string];
  const key = keys.keys.get(kid);
  if (!key) throw new SealedCodeError('unknown key id');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new SealedCodeError('authentication failed');
  }
}

/** Additional data bound to a sealed code. */
export function sealContext(shipmentId: string): string {
  return `delivery-code\u0000${shipmentId}`;
}

/** HMAC-SHA256(key, shipment id ‖ code) as 64 hex characters (C2). */
export function codeDigest(key: Buffer, shipmentId: string, code: string): string {
  return createHmac('sha256', key).update(`delivery-code\u0000${shipmentId}\u0000${code}`, 'utf8').digest('hex');
}

/** The active key id and the digest under it, for storing. */
export function activeDigest(keys: Keyring, shipmentId: string, code: string): { kid: string; digest: string } {
  const key = keys.keys.get(keys.activeKeyId);
  if (!key) throw new Error('active hmac key missing');
  return { kid: keys.activeKeyId, digest: codeDigest(key, shipmentId, code) };
}

/**
 * The digest of a submitted code under every configured key, flattened as
 * `[kid, digest, kid, digest, ...]`: the atomic check picks the one whose id
 * the stored value names, so codes issued before a key rotation still check.
 */
export function candidateDigests(keys: Keyring, shipmentId: string, code: string): string[] {
  const out: string[] = [];
  for (const [kid, key] of keys.keys) out.push(kid, codeDigest(key, shipmentId, code));
  return out;
}
