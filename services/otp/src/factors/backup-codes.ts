import { randomInt } from 'node:crypto';

/** No 0/o, 1/l/i: easy to read off paper. 31 symbols → ~4.95 bits each. */
const ALPHABET = '23456789abcdefghjkmnpqrstuvwxyz';
export const BACKUP_CODE_COUNT = 10;
/** 10 symbols ≈ 49.5 bits each (SECURITY C11: at least 10 characters). */
export const BACKUP_CODE_LENGTH = 10;

/** One backup code as shown: `xxxxx-xxxxx`. */
export function generateBackupCode(): string {
  let s = '';
  for (let i = 0; i < BACKUP_CODE_LENGTH; i++) s += ALPHABET[randomInt(0, ALPHABET.length)];
  return `${s.slice(0, 5)}-${s.slice(5)}`;
}

export function generateBackupCodes(count = BACKUP_CODE_COUNT): string[] {
  const set = new Set<string>();
  while (set.size < count) set.add(generateBackupCode());
  return [...set];
}

/** What a person typed → the canonical form that is hashed: no separators, lower case. */
export function normalizeBackupCode(input: string): string {
  return input.replace(/[\s-]/g, '').toLowerCase();
}

export function looksLikeBackupCode(normalized: string): boolean {
  return (
    normalized.length === BACKUP_CODE_LENGTH && [...normalized].every((c) => ALPHABET.includes(c))
  );
}
