/**
 * Masks an E.164 number to its last two digits, keeping the country code:
 * `+14155550123` → `+1 ••• ••• ••23`. Anything that is not E.164 is masked
 * whole but for its last two characters.
 */
export function maskPhone(value: string): string {
  const digits = value.replace(/[^\d]/g, '');
  if (digits.length < 4) return '••';
  const last = digits.slice(-2);
  const cc = value.startsWith('+') ? `+${countryCodeOf(digits)} ` : '';
  return `${cc}••• ••• ••${last}`;
}

// Calling codes are 1-3 digits; good enough for display (not for routing).
const ONE = new Set(['1', '7']);
const TWO = new Set([
  '20', '27', '30', '31', '32', '33', '34', '36', '39', '40', '41', '43', '44', '45', '46', '47', '48', '49',
  '51', '52', '53', '54', '55', '56', '57', '58', '60', '61', '62', '63', '64', '65', '66', '81', '82', '84',
  '86', '90', '91', '92', '93', '94', '95', '98',
]);
function countryCodeOf(digits: string): string {
  if (ONE.has(digits.slice(0, 1))) return digits.slice(0, 1);
  if (TWO.has(digits.slice(0, 2))) return digits.slice(0, 2);
  return digits.slice(0, 3);
}

/** `ana.lopez@example.com` → `a•••@example.com`. */
export function maskEmail(value: string): string {
  const at = value.lastIndexOf('@');
  if (at <= 0) return '•••';
  return `${value[0]}•••${value.slice(at)}`;
}

/** Masks a destination of either kind. */
export function maskDestination(value: string): string {
  return value.includes('@') ? maskEmail(value) : maskPhone(value);
}
