import { randomBytes } from 'node:crypto';
import { generateSync, generateURI, verifySync } from 'otplib';

/** RFC 6238 settings every authenticator app understands (SECURITY C10). */
export const TOTP = {
  algorithm: 'sha1',
  digits: 6,
  periodSeconds: 30,
  window: 1,
  secretBytes: 20,
} as const;

export interface TotpOptions {
  digits?: 6 | 8;
  algorithm?: 'sha1' | 'sha256' | 'sha512';
}

/** A fresh secret of 160 bits from the CSPRNG. */
export function generateTotpSecret(bytes: number = TOTP.secretBytes): Buffer {
  if (bytes < 20) throw new RangeError('a TOTP secret is at least 160 bits');
  return randomBytes(bytes);
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding (what authenticator apps expect in `secret=`). */
export function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** The time step (RFC 6238 T) of a moment. */
export function timeStepOf(nowMs: number, periodSeconds: number = TOTP.periodSeconds): number {
  return Math.floor(nowMs / 1000 / periodSeconds);
}

/**
 * `used`: the code is right for a step at or before the last accepted one (a copy of a code
 * already accepted, such as a double-tapped submit): refused, but not a wrong guess.
 */
export type TotpCheck = { valid: true; timeStep: number } | { valid: false; used?: true };

/**
 * Verifies a TOTP code at `nowMs` (server time, injected for tests) with
 * otplib, accepting only the steps T−1, T and T+1, and refusing any step at
 * or before `afterTimeStep` (the last step this authenticator accepted), so a
 * code is never accepted twice (such a refusal says `used`). The caller stores
 * the returned step atomically.
 */
export function verifyTotp(
  secret: Uint8Array,
  token: string,
  nowMs: number,
  afterTimeStep?: number,
  options: TotpOptions = {},
): TotpCheck {
  const digits = options.digits ?? TOTP.digits;
  if (!new RegExp(`^\\d{${digits}}$`).test(token)) return { valid: false };
  const epoch = Math.floor(nowMs / 1000);
  const current = timeStepOf(nowMs);
  const result = verifySync({
    secret,
    token,
    epoch,
    digits,
    algorithm: options.algorithm ?? TOTP.algorithm,
    period: TOTP.periodSeconds,
    // ±one period around now: exactly the steps T−1, T, T+1.
    epochTolerance: TOTP.periodSeconds * TOTP.window,
  });
  if (!result.valid || !('timeStep' in result)) return { valid: false };
  const step = result.timeStep;
  if (Math.abs(step - current) > TOTP.window) return { valid: false };
  if (afterTimeStep !== undefined && step <= afterTimeStep) return { valid: false, used: true };
  return { valid: true, timeStep: step };
}

/** The code for a moment (tests and tooling only). */
export function totpAt(secret: Uint8Array, nowMs: number, options: TotpOptions = {}): string {
  return generateSync({
    secret,
    epoch: Math.floor(nowMs / 1000),
    digits: options.digits ?? TOTP.digits,
    algorithm: options.algorithm ?? TOTP.algorithm,
    period: TOTP.periodSeconds,
  });
}

/** The `otpauth://` URI apps scan: issuer in the label and as a parameter, SHA1, 6 digits, 30 s. */
export function otpauthUri(issuer: string, label: string, secret: Uint8Array): string {
  return generateURI({
    issuer,
    label,
    secret: base32(secret),
    algorithm: 'sha1',
    digits: 6,
    period: TOTP.periodSeconds,
  });
}
