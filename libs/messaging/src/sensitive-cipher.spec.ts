import { randomBytes } from 'node:crypto';
import { DecryptError } from './errors';
import { SensitiveCipher } from './sensitive-cipher';

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');

describe('SensitiveCipher', () => {
  const cipher = new SensitiveCipher({ keys: { k1 }, activeKeyId: 'k1' });

  it('round-trips strings, numbers and booleans through AES-256-GCM', () => {
    for (const value of ['123456', 42, true, { nested: 'x' }]) {
      const text = cipher.encrypt(value, 'a.b.v1#code');
      expect(SensitiveCipher.isCiphertext(text)).toBe(true);
      expect(cipher.decrypt(text, 'a.b.v1#code')).toEqual(value);
    }
  });

  it('never leaves the plaintext in the ciphertext and uses a fresh IV each time', () => {
    const a = cipher.encrypt('987654', 's#code');
    const b = cipher.encrypt('987654', 's#code');
    expect(a).not.toContain('987654');
    expect(a).not.toEqual(b);
  });

  it('carries the key id so a rotated key still decrypts old values', () => {
    const old = cipher.encrypt('111111', 's#code');
    const rotated = new SensitiveCipher({ keys: { k1, k2 }, activeKeyId: 'k2' });
    const fresh = rotated.encrypt('222222', 's#code');
    expect(old.split(':')[2]).toBe('k1');
    expect(fresh.split(':')[2]).toBe('k2');
    expect(rotated.decrypt(old, 's#code')).toBe('111111');
    expect(() => cipher.decrypt(fresh, 's#code')).toThrow(/unknown key id "k2"/);
  });

  it('refuses a value moved to another field or message type (additional data)', () => {
    const text = cipher.encrypt('123456', 'notification.requested.v1#variables.code');
    expect(() => cipher.decrypt(text, 'notification.requested.v1#variables.other')).toThrow(
      DecryptError,
    );
    expect(() => cipher.decrypt(text, 'other.type.v1#variables.code')).toThrow(DecryptError);
  });

  it('refuses a tampered ciphertext', () => {
    const text = cipher.encrypt('123456', 's#code');
    const parts = text.split(':');
    const ct = Buffer.from(parts[4] as string, 'base64url');
    ct[0] = (ct[0] as number) ^ 1;
    parts[4] = ct.toString('base64url');
    expect(() => cipher.decrypt(parts.join(':'), 's#code')).toThrow(/failed authentication/);
  });

  it('encrypts dotted paths in a copy, skips absent ones, and decrypts them back', () => {
    const data = { to: '+14155550123', variables: { code: '123456', host: 'shop' } };
    const { data: sealed, encrypted } = cipher.encryptPaths(
      data,
      ['variables.code', 'missing.path'],
      'n.v1',
    );
    expect(encrypted).toEqual(['variables.code']);
    expect(data.variables.code).toBe('123456');
    expect(JSON.stringify(sealed)).not.toContain('123456');
    expect(sealed.variables.host).toBe('shop');
    expect(cipher.decryptPaths(sealed, encrypted, 'n.v1')).toEqual(data);
  });

  it("never changes the caller's data, however deep or shared the paths", () => {
    const shared = { code: '654321', pin: '9999' };
    const data = { a: { b: shared, list: [1, 2] }, c: shared, top: 'x' };
    const before = JSON.stringify(data);
    const paths = ['a.b.code', 'a.b.pin', 'c.code', 'top'];
    const { data: sealed, encrypted } = cipher.encryptPaths(data, paths, 'n.v1');
    expect(JSON.stringify(data)).toBe(before);
    expect(encrypted).toEqual(paths);
    expect(JSON.stringify(sealed)).not.toMatch(/654321|"x"/);
    expect([sealed.a.b.pin, sealed.c.pin]).toEqual([expect.stringMatching(/^pgenc:/), '9999']);
    expect(sealed.a.list).toEqual([1, 2]);
    const opened = cipher.decryptPaths(sealed, encrypted, 'n.v1');
    expect(opened).toEqual(data);
    expect(JSON.stringify(sealed)).not.toMatch(/654321/);
  });

  it('refuses a field announced as encrypted that arrives in clear', () => {
    expect(() => cipher.decryptPaths({ code: '123456' }, ['code'], 's')).toThrow(
      /should be encrypted/,
    );
  });

  it('validates its key configuration', () => {
    expect(
      () =>
        new SensitiveCipher({
          keys: { k1: randomBytes(16).toString('base64') },
          activeKeyId: 'k1',
        }),
    ).toThrow(/32 bytes/);
    expect(() => new SensitiveCipher({ keys: { k1 }, activeKeyId: 'k9' })).toThrow(/not among/);
    expect(() => new SensitiveCipher({ keys: { 'bad:id': k1 }, activeKeyId: 'bad:id' })).toThrow(
      /must match/,
    );
  });
});
