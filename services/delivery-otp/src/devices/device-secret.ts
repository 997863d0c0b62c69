import { createHash, randomBytes } from 'node:crypto';

/** Prefix of device secrets: tells them apart from client API keys, and lets the resolver skip others. */
export const DEVICE_SECRET_PREFIX = 'pgd_';

/** A new device id and its secret: 256 random bits, shown once. */
export function newDeviceCredentials(): { deviceId: string; secret: string } {
  return {
    deviceId: `dev_${randomBytes(9).toString('base64url')}`,
    secret: `${DEVICE_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`,
  };
}

/** What is stored and looked up: SHA-256 of the secret. */
export function secretDigest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export function looksLikeDeviceSecret(token: string): boolean {
  return token.startsWith(DEVICE_SECRET_PREFIX) && token.length === DEVICE_SECRET_PREFIX.length + 43;
}
