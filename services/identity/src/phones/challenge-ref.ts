import { createHmac, hkdfSync } from 'node:crypto';
import type { Keyring } from '@phonegate/platform';

/** The HKDF label of the key a number's challenge reference is hashed with (its own, not the bus's). */
const LABEL = 'phonegate identity phone challenge ref v1';

/**
 * What a number's verification code is bound to (C6): the phone and the number it was sent to.
 * A phone row keeps its id when its pending number is corrected, so the id alone would let the
 * old number's code verify the new one. The otp service keeps the reference with its challenge
 * and copies it into every `otp.challenge.*` event, so the number is in it only as a keyed hash
 * (L1; a plain hash of a number is undone by trying every number): HMAC-SHA-256 under a key
 * derived (HKDF, its own label) from a seed of JWT_KEYS, identity's own secret (otp does not hold
 * it), as the Idempotency-Key fingerprints are. A seed is kept in the ring well past a challenge's
 * life after a rotation (for the sessions it signed), so older references are still found.
 */
export class ChallengeRefs {
  private readonly keys: Buffer[];

  constructor(keyring: Keyring, activeKeyId: string = keyring.activeKeyId) {
    const active = keyring.keys.get(activeKeyId);
    const ids = [...keyring.keys.keys()].filter((id) => id !== activeKeyId);
    this.keys = [...(active ? [active] : []), ...ids.map((id) => keyring.keys.get(id)!)].map((key) =>
      Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), LABEL, 32)),
    );
  }

  /** The reference a new challenge to `e164` for the phone is started with (under the active key). */
  of(phoneId: string, e164: string): string {
    return refUnder(this.keys[0]!, phoneId, e164);
  }

  /**
   * Every reference a challenge to `e164` for the phone may have been started with, the active
   * key's first: a code sent before a key rotation still verifies while its key is in the ring.
   */
  all(phoneId: string, e164: string): string[] {
    return this.keys.map((key) => refUnder(key, phoneId, e164));
  }
}

function refUnder(key: Buffer, phoneId: string, e164: string): string {
  return `${phoneId}|${createHmac('sha256', key).update(`${phoneId}|${e164}`).digest('base64url').slice(0, 32)}`;
}
