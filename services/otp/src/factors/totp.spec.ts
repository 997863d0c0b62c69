import { execFileSync } from 'node:child_process';
import { base32, generateTotpSecret, otpauthUri, timeStepOf, totpAt, verifyTotp } from './totp';

// RFC 6238 appendix B: the SHA-1 seed is the 20 ASCII bytes "12345678901234567890".
const SEED = Buffer.from('12345678901234567890', 'ascii');
const RFC_SHA1: [number, string][] = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

describe('TOTP (RFC 6238)', () => {
  it.each(RFC_SHA1)(
    'accepts the RFC 6238 SHA-1 8-digit vector at T=%i through verifyTotp',
    (seconds, code) => {
      const result = verifyTotp(SEED, code, seconds * 1000, undefined, { digits: 8 });
      expect(result).toEqual({ valid: true, timeStep: Math.floor(seconds / 30) });
      expect(totpAt(SEED, seconds * 1000, { digits: 8 })).toBe(code);
    },
  );

  it('accepts only the steps T-1, T and T+1', () => {
    const now = 1_700_000_015_000;
    const step = timeStepOf(now);
    for (const offset of [-1, 0, 1]) {
      const code = totpAt(SEED, now + offset * 30_000);
      expect(verifyTotp(SEED, code, now)).toEqual({ valid: true, timeStep: step + offset });
    }
    for (const offset of [-3, -2, 2, 3]) {
      const code = totpAt(SEED, now + offset * 30_000);
      // A code of a far step could collide with a near one by chance; skip that (1 in a million).
      const near = [-1, 0, 1].map((o) => totpAt(SEED, now + o * 30_000));
      if (near.includes(code)) continue;
      expect(verifyTotp(SEED, code, now).valid).toBe(false);
    }
  });

  it('refuses a step at or before the last accepted one', () => {
    const now = 1_700_000_015_000;
    const code = totpAt(SEED, now);
    const first = verifyTotp(SEED, code, now);
    expect(first.valid).toBe(true);
    const step = (first as { timeStep: number }).timeStep;
    expect(verifyTotp(SEED, code, now, step)).toEqual({ valid: false, used: true });
    expect(verifyTotp(SEED, totpAt(SEED, now - 30_000), now, step)).toEqual({
      valid: false,
      used: true,
    });
    expect(verifyTotp(SEED, totpAt(SEED, now + 30_000), now, step)).toEqual({
      valid: true,
      timeStep: step + 1,
    });
  });

  it('refuses malformed tokens without throwing', () => {
    expect(verifyTotp(SEED, '12345', Date.now()).valid).toBe(false);
    expect(verifyTotp(SEED, 'abcdef', Date.now()).valid).toBe(false);
    expect(verifyTotp(SEED, '1234567', Date.now()).valid).toBe(false);
  });

  it('makes secrets of at least 160 bits and encodes them as RFC 4648 base32', () => {
    expect(generateTotpSecret().length).toBe(20);
    expect(() => generateTotpSecret(10)).toThrow();
    expect(base32(Buffer.from('foobar'))).toBe('MZXW6YTBOI');
    expect(base32(SEED)).toBe('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  });

  it('builds an otpauth:// URI authenticator apps accept', () => {
    const uri = new URL(otpauthUri('Phone Gate', 'ana@example.com', SEED));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Phone Gate:ana@example.com');
    expect(uri.searchParams.get('secret')).toBe('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    expect(uri.searchParams.get('issuer')).toBe('Phone Gate');
    expect(uri.searchParams.get('algorithm') ?? 'SHA1').toBe('SHA1');
    expect(uri.searchParams.get('digits') ?? '6').toBe('6');
    expect(uri.searchParams.get('period') ?? '30').toBe('30');
  });

  it('accepts a code from an independent generator (oathtool) once', () => {
    const secret = generateTotpSecret();
    const now = Date.now();
    const code = execFileSync('oathtool', [
      '--totp',
      '-b',
      base32(secret),
      '--now',
      new Date(now)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC'),
    ])
      .toString()
      .trim();
    expect(code).toMatch(/^\d{6}$/);
    const first = verifyTotp(secret, code, now);
    expect(first.valid).toBe(true);
    expect(verifyTotp(secret, code, now, (first as { timeStep: number }).timeStep).valid).toBe(
      false,
    );
  });
});
