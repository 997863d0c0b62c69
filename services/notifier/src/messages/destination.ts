import { createHmac } from 'node:crypto';
import type { Channel } from '@phonegate/contracts';
import { maskDestination, type Keyring } from '@phonegate/platform';

/** The form destinations are hashed and compared in: e-mail addresses lower-cased, numbers as given (E.164). */
export function normalizeDestination(channel: Channel, to: string): string {
  const trimmed = to.trim();
  return channel === 'email' ? trimmed.toLowerCase() : trimmed;
}

/**
 * Keyed hashes of destinations (HMAC-SHA256 with a rotating key, the key id in
 * the value), so support can find a number's messages without the log storing
 * the number.
 */
export class DestinationHasher {
  constructor(private readonly keyring: Keyring) {}

  hash(destination: string): string {
    return this.hashWith(this.keyring.activeKeyId, destination);
  }

  /** One hash per configured key: what to look for while old keys still sign stored rows. */
  lookupHashes(destination: string): string[] {
    return [...this.keyring.keys.keys()].map((kid) => this.hashWith(kid, destination));
  }

  private hashWith(kid: string, destination: string): string {
    const key = this.keyring.keys.get(kid);
    if (!key) throw new Error(`unknown destination hash key ${kid}`);
    return `${kid}:${createHmac('sha256', key).update(destination, 'utf8').digest('hex')}`;
  }
}

export { maskDestination };
