import { randomBytes } from 'node:crypto';
import { generateNumericCode, normalizeNumericCode } from './code-generator';
import { digestsEqual, KeyedHasher } from './keyed-hash';
import { reportToken, verifyReportToken } from './report-token';
import { SecretBox } from './secret-box';

const ring = (...kids: string[]) => ({
  activeKeyId: kids[0] as string,
  keys: new Map(kids.map((k) => [k, randomBytes(32)])),
});

describe('codes', () => {
  it('draws numeric codes of the configured length as strings, keeping leading zeros', () => {
    const codes = Array.from({ length: 2000 }, () => generateNumericCode(6));
    expect(codes.every((c) => /^\d{6}$/.test(c))).toBe(true);
    expect(codes.some((c) => c.startsWith('0'))).toBe(true);
    expect(new Set(codes).size).toBeGreaterThan(1900);
    expect(generateNumericCode(10)).toMatch(/^\d{10}$/);
    expect(() => generateNumericCode(3)).toThrow();
    expect(normalizeNumericCode(' 123-456 ')).toBe('123456');
  });

  it('hashes a code bound to its challenge with a key id, and old keys still verify', () => {
    const keys = ring('k2', 'k1');
    const hasher = new KeyedHasher(keys);
    const id = '3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b10';
    const stored = hasher.codeDigest(id, '012345');
    expect(stored.kid).toBe('k2');
    expect(stored.digest).toHaveLength(32);
    expect(digestsEqual(hasher.codeCandidate('k2', id, '012345'), stored.digest)).toBe(true);
    expect(digestsEqual(hasher.codeCandidate('k2', id, '012346'), stored.digest)).toBe(false);
    expect(
      digestsEqual(
        hasher.codeCandidate('k2', '3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b11', '012345'),
        stored.digest,
      ),
    ).toBe(false);
    // A digest made under k1 (before rotation) is checked with k1.
    const old = new KeyedHasher({ activeKeyId: 'k1', keys: keys.keys }).codeDigest(id, '999999');
    expect(digestsEqual(hasher.codeCandidate(old.kid, id, '999999'), old.digest)).toBe(true);
    expect(hasher.codeCandidate('gone', id, '999999')).toBeUndefined();
    expect(digestsEqual(undefined, old.digest)).toBe(false);
    expect(digestsEqual(undefined, undefined)).toBe(false);
  });

  it('signs report links with a token only the server can make', () => {
    const hasher = new KeyedHasher(ring('k1'));
    const id = '3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b10';
    const token = reportToken(hasher, id);
    expect(token).toMatch(/^k1\.[A-Za-z0-9_-]{22}$/);
    expect(verifyReportToken(hasher, id, token)).toBe(true);
    expect(verifyReportToken(hasher, '3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b11', token)).toBe(false);
    const flipped = `${token.slice(0, 6)}${token[6] === 'A' ? 'B' : 'A'}${token.slice(7)}`;
    expect(verifyReportToken(hasher, id, flipped)).toBe(false);
    expect(verifyReportToken(hasher, id, 'k9.abc')).toBe(false);
    expect(verifyReportToken(hasher, id, 'nonsense')).toBe(false);
    expect(verifyReportToken(new KeyedHasher(ring('k1')), id, token)).toBe(false);
  });

  it('seals secrets with AES-256-GCM bound to their row, opening with the stored key id', () => {
    const keys = ring('s2', 's1');
    const box = new SecretBox(keys);
    const secret = randomBytes(20);
    const sealed = box.seal(secret, 'totp|a|b');
    expect(sealed.kid).toBe('s2');
    expect(sealed.blob.includes(secret)).toBe(false);
    expect(box.open(sealed, 'totp|a|b').equals(secret)).toBe(true);
    expect(() => box.open(sealed, 'totp|a|c')).toThrow();
    const tampered = Buffer.from(sealed.blob);
    tampered[14] = (tampered[14] as number) ^ 1;
    expect(() => box.open({ kid: 's2', blob: tampered }, 'totp|a|b')).toThrow();
    const older = new SecretBox({ activeKeyId: 's1', keys: keys.keys }).seal(secret, 'x');
    expect(box.open(older, 'x').equals(secret)).toBe(true);
  });
});
