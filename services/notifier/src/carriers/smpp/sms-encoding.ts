/**
 * SMS encoding for SMPP (GSM 03.38 / 3GPP TS 23.038):
 * - Text made only of the GSM 7-bit default alphabet (+ its extension table, two septets a
 *   character) goes as data_coding 0, one septet an octet (unpacked, as SMPP carries it);
 *   anything else as UCS-2 (data_coding 8, UTF-16BE; a character outside the BMP takes two units).
 * - One segment holds 160 septets or 70 UCS-2 units. Longer texts are concatenated with a UDH
 *   (IEI 0x00, 8-bit reference: 6 octets), leaving 153 septets or 67 units a segment. UDH rather
 *   than SAR TLVs because every SMSC and handset honours it, and the simulator reassembles both.
 * - A segment boundary never splits an escape sequence or a surrogate pair, so each segment
 *   decodes on its own.
 */

export type SmsEncoding = 'gsm7' | 'ucs2';

/** WIRE VALUES (SMPP data_coding). */
export const DATA_CODING: Record<SmsEncoding, number> = { gsm7: 0x00, ucs2: 0x08 };

const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM7_EXTENSION: Record<string, number> = {
  '\f': 0x0a,
  '^': 0x14,
  '{': 0x28,
  '}': 0x29,
  '\\': 0x2f,
  '[': 0x3c,
  '~': 0x3d,
  ']': 0x3e,
  '|': 0x40,
  '€': 0x65,
};
const BASIC_CODE = new Map<string, number>();
for (let i = 0; i < GSM7_BASIC.length; i++) if (i !== 0x1b) BASIC_CODE.set(GSM7_BASIC[i]!, i);

/**
 * By UTF-16 code unit: its septets (0: not in GSM-7) and its GSM-7 code (the basic code, or
 * 0x100 + the extension code), so a text is sized and encoded in one pass over charCodeAt.
 * Every GSM-7 character is one code unit; surrogates have no entry, so a character outside the
 * BMP makes a text UCS-2 as it should.
 */
const SEPTETS = new Uint8Array(0x10000);
const CODES = new Int16Array(0x10000).fill(-1);
for (const [char, code] of BASIC_CODE) {
  SEPTETS[char.charCodeAt(0)] = 1;
  CODES[char.charCodeAt(0)] = code;
}
for (const [char, code] of Object.entries(GSM7_EXTENSION)) {
  SEPTETS[char.charCodeAt(0)] = 2;
  CODES[char.charCodeAt(0)] = 0x100 + code;
}

/** Septets of a GSM-7 text, or -1 when a character is outside GSM-7. */
function gsmLength(text: string): number {
  let units = 0;
  for (let i = 0; i < text.length; i++) {
    const n = SEPTETS[text.charCodeAt(i)]!;
    if (n === 0) return -1;
    units += n;
  }
  return units;
}

export const SEGMENT_LIMITS = {
  gsm7: { single: 160, multi: 153 },
  ucs2: { single: 70, multi: 67 },
} as const;

/** Septets a character (a code point) takes in GSM-7 (1 or 2), or undefined when it has none. */
function gsmSeptets(char: string): 1 | 2 | undefined {
  const n = char.length === 1 ? SEPTETS[char.charCodeAt(0)] : 0;
  return n === 1 || n === 2 ? n : undefined;
}

export function isGsm7(text: string): boolean {
  return gsmLength(text) >= 0;
}

export function chooseEncoding(text: string): SmsEncoding {
  return isGsm7(text) ? 'gsm7' : 'ucs2';
}

/** Units of the chosen encoding: septets (GSM-7) or UTF-16 code units (UCS-2). */
function unitsOf(char: string, encoding: SmsEncoding): number {
  return encoding === 'gsm7' ? (gsmSeptets(char) ?? 1) : char.length;
}

export interface SegmentInfo {
  encoding: SmsEncoding;
  /** Septets or UCS-2 units in all. */
  units: number;
  segments: number;
  /** Units a segment holds at this length. */
  perSegment: number;
}

/** Encoding and length in its units (septets, or UTF-16 code units for UCS-2), in one pass. */
function measure(text: string): { encoding: SmsEncoding; units: number } {
  const septets = gsmLength(text);
  return septets >= 0
    ? { encoding: 'gsm7', units: septets }
    : { encoding: 'ucs2', units: text.length };
}

/** How a text would be sent: encoding, length in units and number of segments. Pure. */
export function segmentInfo(text: string): SegmentInfo {
  const { encoding, units } = measure(text);
  const limits = SEGMENT_LIMITS[encoding];
  const segments = units <= limits.single ? 1 : split(text, encoding).length;
  return { encoding, units, segments, perSegment: segments > 1 ? limits.multi : limits.single };
}

/** The text cut into segment texts (one when it fits a single SMS; empty text is one empty segment). */
export function splitSegments(text: string): string[] {
  const { encoding, units } = measure(text);
  return units <= SEGMENT_LIMITS[encoding].single ? [text] : split(text, encoding);
}

/** Cuts a text longer than one SMS into segments of `multi` units. */
function split(text: string, encoding: SmsEncoding): string[] {
  const limits = SEGMENT_LIMITS[encoding];
  const chars = [...text]; // code points: a surrogate pair stays whole
  const parts: string[] = [];
  let current = '';
  let used = 0;
  for (const c of chars) {
    const u = unitsOf(c, encoding);
    if (used + u > limits.multi) {
      parts.push(current);
      current = '';
      used = 0;
    }
    current += c;
    used += u;
  }
  if (current) parts.push(current);
  return parts;
}

/** GSM-7, one septet an octet (extension characters as 0x1B + code). Throws on a non-GSM character. */
export function encodeGsm7(text: string): Buffer {
  const septets = gsmLength(text);
  if (septets < 0) throw new RangeError('character outside the GSM 7-bit alphabet');
  const out = Buffer.allocUnsafe(septets);
  let j = 0;
  for (let i = 0; i < text.length; i++) {
    const code = CODES[text.charCodeAt(i)]!;
    if (code < 0x100) out[j++] = code;
    else {
      out[j++] = 0x1b;
      out[j++] = code - 0x100;
    }
  }
  return out;
}

export function decodeGsm7(bytes: Buffer): string {
  const ext = new Map(Object.entries(GSM7_EXTENSION).map(([c, code]) => [code, c]));
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x1b && i + 1 < bytes.length) out += ext.get(bytes[++i]!) ?? ' ';
    else out += GSM7_BASIC[b] ?? ' ';
  }
  return out;
}

export function encodeUcs2(text: string): Buffer {
  return Buffer.from(text, 'utf16le').swap16();
}

export interface SubmitPart {
  /** short_message octets, with the UDH in front when concatenated. */
  shortMessage: Buffer;
  dataCoding: number;
  /** 0x40 (UDH indicator) when concatenated, else 0. */
  esmClass: number;
}

/**
 * The submit_sm payloads for a text. `reference` (0-255) ties the segments of one message
 * together; use a different one for each concatenated message to the same destination.
 */
export function buildSubmitParts(text: string, reference: number): SubmitPart[] {
  const { encoding, units } = measure(text);
  const encode = encoding === 'gsm7' ? encodeGsm7 : encodeUcs2;
  const parts = units <= SEGMENT_LIMITS[encoding].single ? [text] : split(text, encoding);
  if (parts.length === 1)
    return [{ shortMessage: encode(text), dataCoding: DATA_CODING[encoding], esmClass: 0 }];
  if (parts.length > 255) throw new RangeError('text needs more than 255 segments');
  return parts.map((part, i) => ({
    shortMessage: Buffer.concat([
      Buffer.from([0x05, 0x00, 0x03, reference & 0xff, parts.length, i + 1]),
      encode(part),
    ]),
    dataCoding: DATA_CODING[encoding],
    esmClass: 0x40,
  }));
}
