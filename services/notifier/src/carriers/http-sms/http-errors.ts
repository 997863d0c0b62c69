import { CarrierError } from '../carrier.errors';

/**
 * Vendor error codes that are the recipient's fault (CPaaS style): invalid or unreachable
 * number, not a mobile, opted out. WIRE VALUES.
 */
export const RECIPIENT_ERROR_CODES: ReadonlySet<number> = new Set([
  21211, 21214, 21217, 21401, 21610, 21612, 21614,
]);

export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * An HTTP error answer as a CarrierError: a recipient error code (400/404/422) → recipient,
 * not retryable; 429 → throttled (with Retry-After); 401/403 → unavailable (our credentials:
 * counts against the carrier); 5xx → unavailable; any other 4xx → rejected (another carrier
 * may take it). Messages hold the status and code only, never the vendor's text (it may quote
 * the number).
 */
export function carrierErrorOfHttp(
  carrierId: string,
  status: number,
  code: number | undefined,
  retryAfter: string | null,
): CarrierError {
  const providerCode = code !== undefined ? String(code) : `http_${status}`;
  const what = `${carrierId}: HTTP ${status}${code !== undefined ? ` code ${code}` : ''}`;
  if (code !== undefined && RECIPIENT_ERROR_CODES.has(code) && status < 500)
    return CarrierError.recipient(carrierId, what, { providerCode });
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(retryAfter);
    return CarrierError.throttled(carrierId, what, {
      providerCode,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  if (status === 401 || status === 403 || status >= 500)
    return CarrierError.unavailable(carrierId, what, { providerCode });
  return CarrierError.rejected(carrierId, what, { providerCode });
}
