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

export const SEGMENT_LIMITS = {
  gsm7: { single: 160, multi: 153 },
  ucs2: { single: 70, multi: 67 },
} as const;

/** Septets a character takes in GSM-7 (1 or 2), or undefined when it has none. */
function gsmSeptets(char: string): 1 | 2 | undefined {
  if (BASIC_CODE.has(char)) return 1;
  if (char in GSM7_EXTENSION) return 2;
  return undefined;
}

export function isGsm7(text: string): boolean {
  for (const char of text) if (gsmSeptets(char) === undefined) return false;
  return true;
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

/** How a text would be sent: encoding, length in units and number of segments. Pure. */
export function segmentInfo(text: string): SegmentInfo {
  const parts = splitSegments(text);
  const encoding = chooseEncoding(text);
  let units = 0;
  for (const char of text) units += unitsOf(char, encoding);
  const limits = SEGMENT_LIMITS[encoding];
  return {
    encoding,
    units,
    segments: parts.length,
    perSegment: parts.length > 1 ? limits.multi : limits.single,
  };
}

/** The text cut into segment texts (one when it fits a single SMS; empty text is one empty segment). */
export function splitSegments(text: string): string[] {
  const encoding = chooseEncoding(text);
  const limits = SEGMENT_LIMITS[encoding];
  const chars = [...text]; // code points: a surrogate pair stays whole
  let total = 0;
  for (const c of chars) total += unitsOf(c, encoding);
  if (total <= limits.single) return [text];
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
  const out: number[] = [];
  for (const char of text) {
    const basic = BASIC_CODE.get(char);
    if (basic !== undefined) out.push(basic);
    else if (char in GSM7_EXTENSION) out.push(0x1b, GSM7_EXTENSION[char]!);
    else throw new RangeError('character outside the GSM 7-bit alphabet');
  }
  return Buffer.from(out);
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
  const encoding = chooseEncoding(text);
  const encode = encoding === 'gsm7' ? encodeGsm7 : encodeUcs2;
  const parts = splitSegments(text);
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
