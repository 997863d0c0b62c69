import fc from 'fast-check';
import {
  buildSubmitParts,
  chooseEncoding,
  decodeGsm7,
  encodeGsm7,
  isGsm7,
  segmentInfo,
  splitSegments,
} from './sms-encoding';

describe('sms encoding', () => {
  it('keeps plain and GSM-extended text in GSM-7 and anything else in UCS-2', () => {
    expect(chooseEncoding('Your code is 123456\n@shop.example #123456')).toBe('gsm7');
    expect(chooseEncoding('Prix: 10€ [promo] {ok} ~ | ^ \\')).toBe('gsm7');
    expect(chooseEncoding('Ihr Code: 123456 – gültig')).toBe('ucs2'); // en dash
    expect(chooseEncoding('認証コード 123456')).toBe('ucs2');
    expect(chooseEncoding('ok 👍')).toBe('ucs2');
    expect(isGsm7('ÄÖÑÜäöñüà§¿¡')).toBe(true);
  });

  it('counts 160 septets as one segment and 161 as two of 153', () => {
    expect(segmentInfo('a'.repeat(160))).toEqual({
      encoding: 'gsm7',
      units: 160,
      segments: 1,
      perSegment: 160,
    });
    expect(segmentInfo('a'.repeat(161))).toEqual({
      encoding: 'gsm7',
      units: 161,
      segments: 2,
      perSegment: 153,
    });
    expect(segmentInfo('a'.repeat(306)).segments).toBe(2);
    expect(segmentInfo('a'.repeat(307)).segments).toBe(3);
  });

  it('counts an extension character as two septets', () => {
    expect(segmentInfo('€'.repeat(80))).toMatchObject({ units: 160, segments: 1 });
    expect(segmentInfo('€'.repeat(81))).toMatchObject({ units: 162, segments: 2 });
  });

  it('counts 70 UCS-2 units as one segment and 71 as two of 67', () => {
    expect(segmentInfo('ж'.repeat(70))).toEqual({
      encoding: 'ucs2',
      units: 70,
      segments: 1,
      perSegment: 70,
    });
    expect(segmentInfo('ж'.repeat(71))).toEqual({
      encoding: 'ucs2',
      units: 71,
      segments: 2,
      perSegment: 67,
    });
    expect(segmentInfo('👍'.repeat(35))).toMatchObject({ units: 70, segments: 1 });
  });

  it('never splits an escape sequence or a surrogate pair', () => {
    const gsm = splitSegments('a'.repeat(152) + '€' + 'b'.repeat(10));
    expect(gsm[0]).toBe('a'.repeat(152));
    expect(gsm[1]!.startsWith('€')).toBe(true);
    const ucs = splitSegments('x'.repeat(66) + '👍' + 'y'.repeat(10));
    expect(ucs[0]).toBe('x'.repeat(66));
    expect(ucs[1]!.startsWith('👍')).toBe(true);
  });

  it('round-trips any GSM-7 text', () => {
    const alphabet = [
      ...'@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡AZÄÖÑÜ§¿azäöñüà^{}\\[~]|€\f',
    ];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 400 }), (chars) => {
        const text = chars.join('');
        expect(decodeGsm7(encodeGsm7(text))).toBe(text);
        expect(splitSegments(text).join('')).toBe(text);
      }),
    );
  });

  it('splits any text into segments that fit and join back to the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 500 }), (text) => {
        const parts = buildSubmitParts(text, 7);
        const info = segmentInfo(text);
        expect(parts).toHaveLength(info.segments);
        for (const p of parts) expect(p.shortMessage.length).toBeLessThanOrEqual(160);
        expect(splitSegments(text).join('')).toBe(text);
      }),
    );
  });

  it('sizes any mix of GSM-7, extension and other characters as a character-by-character count does', () => {
    const basic =
      '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡AZÄÖÑÜ§¿azäöñüà';
    const extension = '^{}\\[~]|€\f';
    const other = ['ç', 'Ω', 'ж', '中', '👍', '\u001b', '\u00a0'];
    const char = fc.oneof(
      fc.constantFrom(...basic),
      fc.constantFrom(...extension),
      fc.constantFrom(...other),
    );
    fc.assert(
      fc.property(fc.array(char, { maxLength: 400 }), (chars) => {
        const text = chars.join('');
        const gsm = chars.every((c) => basic.includes(c) || extension.includes(c));
        const units = gsm
          ? chars.reduce((n, c) => n + (extension.includes(c) ? 2 : 1), 0)
          : text.length;
        expect(isGsm7(text)).toBe(gsm);
        expect(segmentInfo(text)).toMatchObject({ encoding: gsm ? 'gsm7' : 'ucs2', units });
        if (gsm) expect(encodeGsm7(text)).toHaveLength(units);
      }),
    );
  });

  it('builds UDH-concatenated submits with the reference, count and sequence', () => {
    const parts = buildSubmitParts('z'.repeat(200), 0x2a);
    expect(parts).toHaveLength(2);
    expect([...parts[0]!.shortMessage.subarray(0, 6)]).toEqual([5, 0, 3, 0x2a, 2, 1]);
    expect([...parts[1]!.shortMessage.subarray(0, 6)]).toEqual([5, 0, 3, 0x2a, 2, 2]);
    expect(parts[0]!.shortMessage.length).toBe(6 + 153);
    expect(parts.every((p) => p.esmClass === 0x40 && p.dataCoding === 0)).toBe(true);
    const single = buildSubmitParts('Привет', 1);
    expect(single).toEqual([
      { shortMessage: Buffer.from('Привет', 'utf16le').swap16(), dataCoding: 8, esmClass: 0 },
    ]);
  });
});
