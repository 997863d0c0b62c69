import { randomInt } from 'node:crypto';

/**
 * A numeric one-time code from the CSPRNG (SECURITY C1): one `randomInt` draw
 * per digit, so every digit is uniform and leading zeros are kept (a string).
 */
export function generateNumericCode(length: number): string {
  if (!Number.isInteger(length) || length < 4 || length > 10)
    throw new RangeError('code length must be 4..10');
  let code = '';
  for (let i = 0; i < length; i++) code += String(randomInt(0, 10));
  return code;
}

/** Codes are digits only; anything else (spaces, dashes) a person typed is dropped. */
export function normalizeNumericCode(input: string): string {
  return input.replace(/[\s-]/g, '');
}
