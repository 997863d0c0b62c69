import { isGsm7, smsSize, toGsm7IfLatin } from './sms-encoding';

describe('smsSize', () => {
  it('counts a plain text as one GSM-7 segment up to 160 septets', () => {
    expect(smsSize('a'.repeat(160))).toEqual({ encoding: 'gsm7', units: 160, segments: 1 });
    expect(smsSize('a'.repeat(161))).toEqual({ encoding: 'gsm7', units: 161, segments: 2 });
    expect(smsSize('a'.repeat(306)).segments).toBe(2);
    expect(smsSize('a'.repeat(307)).segments).toBe(3);
  });

  it('counts extension characters as two septets', () => {
    expect(smsSize('€'.repeat(80))).toEqual({ encoding: 'gsm7', units: 160, segments: 1 });
    expect(smsSize(`${'€'.repeat(80)}a`).segments).toBe(2);
  });

  it('switches to UCS-2 for characters outside GSM-7: 70 then 67 per segment', () => {
    expect(smsSize('あ'.repeat(70))).toEqual({ encoding: 'ucs2', units: 70, segments: 1 });
    expect(smsSize('あ'.repeat(71)).segments).toBe(2);
    expect(smsSize('á').encoding).toBe('ucs2');
  });
});

describe('toGsm7IfLatin', () => {
  it('replaces accents GSM-7 lacks and keeps those it has', () => {
    const out = toGsm7IfLatin('Tu código de sesión: ¿no fuiste tú? Ñandú é ü');
    expect(out).toBe('Tu codigo de sesion: ¿no fuiste tu? Ñandu é ü');
    expect(isGsm7(out)).toBe(true);
  });

  it('leaves texts in other scripts untouched', () => {
    const hi = 'आपका कोड 123456 है। कृपया साझा न करें।';
    expect(toGsm7IfLatin(hi)).toBe(hi);
    const ja = 'コードは123456です。á';
    expect(toGsm7IfLatin(ja)).toBe(ja);
  });
});
