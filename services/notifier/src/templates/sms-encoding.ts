import { chooseEncoding, segmentInfo, type SmsEncoding } from '../carriers';

export type { SmsEncoding };

export interface SmsSize {
  encoding: SmsEncoding;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2). */
  units: number;
  segments: number;
}

/** Segments of a text as the SMPP carrier will send it (the carriers' own arithmetic). */
export function smsSize(text: string): SmsSize {
  const info = segmentInfo(text);
  return { encoding: info.encoding, units: info.units, segments: info.segments };
}

export function isGsm7(text: string): boolean {
  return chooseEncoding(text) === 'gsm7';
}

// Latin letters and punctuation outside GSM-7 with their closest GSM-7 stand-ins.
const TRANSLITERATION: Record<string, string> = {
  á: 'a',
  â: 'a',
  ã: 'a',
  ą: 'a',
  ç: 'c',
  ê: 'e',
  ë: 'e',
  ę: 'e',
  í: 'i',
  î: 'i',
  ï: 'i',
  ó: 'o',
  ô: 'o',
  õ: 'o',
  ú: 'u',
  û: 'u',
  ý: 'y',
  ÿ: 'y',
  Á: 'A',
  À: 'A',
  Â: 'A',
  Ã: 'A',
  È: 'E',
  Ê: 'E',
  Ë: 'E',
  Í: 'I',
  Ì: 'I',
  Î: 'I',
  Ï: 'I',
  Ó: 'O',
  Ò: 'O',
  Ô: 'O',
  Õ: 'O',
  Ú: 'U',
  Ù: 'U',
  Û: 'U',
  Ý: 'Y',
  '‘': "'",
  '’': "'",
  '‚': "'",
  '“': '"',
  '”': '"',
  '„': '"',
  '–': '-',
  '—': '-',
  '…': '...',
  '\u00a0': ' ',
  '«': '"',
  '»': '"',
};

/**
 * A GSM-7 rendering of a Latin text when one exists (accents the alphabet
 * lacks become their base letter), so a Spanish SMS stays one 160-character
 * segment instead of three UCS-2 ones. Texts in other scripts are returned
 * unchanged: they need UCS-2 anyway and keep their accents.
 */
export function toGsm7IfLatin(text: string): string {
  if (isGsm7(text)) return text;
  let out = '';
  for (const ch of text) out += isGsm7(ch) ? ch : (TRANSLITERATION[ch] ?? ch);
  return isGsm7(out) ? out : text;
}
