import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Keyring } from '@phonegate/platform';

/** An AES-256-GCM sealed value and the id of its key (SECURITY C10, L3). */
export interface Sealed {
  kid: string;
  /** iv (12) ‖ ciphertext ‖ tag (16). */
  blob: Buffer;
}

/**
 * Encrypts secrets at rest (TOTP secrets) with AES-256-GCM. The additional
 * data binds a ciphertext to its row (e.g. `totp|<id>|<accountId>`), so a
 * sealed secret copied to another row does not open.
 */
export class SecretBox {
  constructor(private readonly keyring: Keyring) {}

  seal(plain: Buffer, aad: string): Sealed {
    const kid = this.keyring.activeKeyId;
    const key = this.keyring.keys.get(kid) as Buffer;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
    return { kid, blob: Buffer.concat([iv, ct, cipher.getAuthTag()]) };
  }

  open(sealed: Sealed, aad: string): Buffer {
    const key = this.keyring.keys.get(sealed.kid);
    if (!key) throw new Error(`secret key "${sealed.kid}" is not configured`);
    if (sealed.blob.length < 12 + 16) throw new Error('sealed value is too short');
    const iv = sealed.blob.subarray(0, 12);
    const tag = sealed.blob.subarray(sealed.blob.length - 16);
    const ct = sealed.blob.subarray(12, sealed.blob.length - 16);
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  }
}
