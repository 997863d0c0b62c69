import { randomBytes } from 'node:crypto';
import type { Keyring } from '@phonegate/platform';
import fc from 'fast-check';
import { candidateDigests, activeDigest, codeDigest, codeLengthFor, drawCode, openCode, sealCode, sealContext, SealedCodeError } from './handoff-code';

const ring = (...kids: string[]): Keyring => ({ activeKeyId: kids[0]!, keys: new Map(kids.map((k) => [k, randomBytes(32)])) });

describe('drawCode', () => {
  it('draws strings of the asked length with leading zeros kept', () => {
    for (const length of [4, 5, 6]) {
      for (let i = 0; i < 200; i++) expect(drawCode(length)).toMatch(new RegExp(`^\\d{${length}}$`));
    }
  });

  it('spreads over the whole range (a leading zero shows up among 4-digit codes)', () => {
    const codes = Array.from({ length: 2000 }, () => drawCode(4));
    expect(codes.some((c) => c.startsWith('0'))).toBe(true);
    expect(new Set(codes).size).toBeGreaterThan(1500);
  });

  it('refuses lengths outside 4 to 6', () => {
    expect(() => drawCode(3)).toThrow(RangeError);
    expect(() => drawCode(7)).toThrow(RangeError);
  });
});

describe('codeLengthFor', () => {
  const settings = { length: 6, merchantLengths: new Map([['merchantA', 4]]) };
  it('uses the merchant length when configured, else the default', () => {
    expect(codeLengthFor(settings, 'merchantA')).toBe(4);
    expect(codeLengthFor(settings, 'merchantB')).toBe(6);
    expect(codeLengthFor(settings, undefined)).toBe(6);
  });
});

describe('sealCode / openCode', () => {
  it('round-trips any code and never contains it in clear', () => {
    const keys = ring('k1');
    fc.assert(
      fc.property(fc.stringMatching(/^\d{4,6}$/), fc.string({ minLength: 1, maxLength: 100 }), (code, shipmentId) => {
        const sealed = sealCode(keys, code, sealContext(shipmentId));
        expect(sealed.startsWith('v1.k1.')).toBe(true);
        expect(openCode(keys, sealed, sealContext(shipmentId))).toBe(code);
      }),
    );
  });

  it('opens codes sealed under an older key after rotation', () => {
    const old = ring('k1');
    const sealed = sealCode(old, '123456', sealContext('s1'));
    const rotated: Keyring = { activeKeyId: 'k2', keys: new Map([['k2', randomBytes(32)], ['k1', old.keys.get('k1')!]]) };
    expect(openCode(rotated, sealed, sealContext('s1'))).toBe('123456');
    expect(sealCode(rotated, '1', sealContext('s1')).split('.')[1]).toBe('k2');
  });

  it('refuses another shipment, a tampered value and an unknown key id', () => {
    const keys = ring('k1');
    const sealed = sealCode(keys, '123456', sealContext('s1'));
    expect(() => openCode(keys, sealed, sealContext('s2'))).toThrow(SealedCodeError);
    const parts = sealed.split('.');
    const ct = Buffer.from(parts[3]!, 'base64url');
    ct[0] = ct[0]! ^ 1;
    parts[3] = ct.toString('base64url');
    expect(() => openCode(keys, parts.join('.'), sealContext('s1'))).toThrow(SealedCodeError);
    expect(() => openCode(ring('k9'), sealed, sealContext('s1'))).toThrow(SealedCodeError);
    expect(() => openCode(keys, 'nonsense', sealContext('s1'))).toThrow(SealedCodeError);
  });
});

describe('code digests', () => {
  it('are 64 hex, bound to the shipment, and listed under every key', () => {
    const keys = ring('k1', 'k0');
    const { kid, digest } = activeDigest(keys, 's1', '123456');
    expect(kid).toBe('k1');
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(digest).not.toBe(codeDigest(keys.keys.get('k1')!, 's2', '123456'));
    expect(digest).not.toBe(codeDigest(keys.keys.get('k1')!, 's1', '123457'));
    const candidates = candidateDigests(keys, 's1', '123456');
    expect(candidates).toEqual(['k1', digest, 'k0', codeDigest(keys.keys.get('k0')!, 's1', '123456')]);
  });
});
