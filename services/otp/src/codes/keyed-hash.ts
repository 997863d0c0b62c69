import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import type { Keyring } from '@phonegate/platform';

/** A digest and the id of the key that made it (so keys can rotate, SECURITY L3). */
export interface KeyedDigest {
  kid: string;
  /** 32 bytes. */
  digest: Buffer;
}

const ZERO = Buffer.alloc(32);

/**
 * HMAC-SHA256 with keys from a keyring. Codes are stored only as
 * HMAC(key, challengeId ‖ code) (SECURITY C2); the challenge id is a fixed-
 * length UUID, so the concatenation is unambiguous. Other uses (backup codes,
 * destination keys, report tokens) put a domain label in front so one digest
 * can never stand in for another.
 */
export class KeyedHasher {
  /** Key objects made once: createHmac with a raw Buffer imports the key on every call. */
  private readonly keys: Map<string, KeyObject>;

  constructor(private readonly keyring: Keyring) {
    this.keys = new Map([...keyring.keys].map(([kid, key]) => [kid, createSecretKey(key)]));
  }

  get activeKeyId(): string {
    return this.keyring.activeKeyId;
  }

  keyIds(): string[] {
    return [...this.keyring.keys.keys()];
  }

  /** The stored form of a challenge code, with the active key. */
  codeDigest(challengeId: string, code: string): KeyedDigest {
    return this.mac(this.keyring.activeKeyId, `${challengeId}${code}`) as KeyedDigest;
  }

  /** The candidate digest of a submitted code with the key that made the stored one; undefined if that key is gone. */
  codeCandidate(kid: string, challengeId: string, code: string): Buffer | undefined {
    return this.mac(kid, `${challengeId}${code}`)?.digest;
  }

  /** HMAC of `label|value` with the key `kid` (default the active one). */
  labelled(label: string, value: string, kid = this.keyring.activeKeyId): KeyedDigest | undefined {
    return this.mac(kid, `${label}|${value}`);
  }

  /** Digests of `label|value` under every key (newest first), for look-ups that must survive rotation. */
  labelledAll(label: string, value: string): KeyedDigest[] {
    return this.keyIds().map((kid) => this.mac(kid, `${label}|${value}`) as KeyedDigest);
  }

  private mac(kid: string, input: string): KeyedDigest | undefined {
    const key = this.keys.get(kid);
    if (!key) return undefined;
    return { kid, digest: createHmac('sha256', key).update(input, 'utf8').digest() };
  }
}

/**
 * Constant-time equality of two digests (SECURITY C3). A missing or
 * wrong-length side is compared against zeros, so the time does not depend on
 * which side was absent, and the answer is false.
 */
export function digestsEqual(a: Buffer | undefined, b: Buffer | undefined): boolean {
  const okA = a !== undefined && a.length === 32;
  const okB = b !== undefined && b.length === 32;
  const same = timingSafeEqual(okA ? a : ZERO, okB ? b : ZERO);
  return okA && okB && same;
}
