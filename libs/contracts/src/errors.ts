/**
 * Stable, machine-readable error codes of the public API and the bus.
 * WIRE VALUES: never change or reuse one; add new ones.
 */
export const ERROR_CODES = {
  validation_failed: 422,
  malformed_request: 400,
  unsupported_media_type: 415,
  payload_too_large: 413,
  invalid_phone_number: 422,
  phone_limit_reached: 409,
  phone_in_use: 409,
  phone_not_verified: 409,
  email_taken: 409,
  not_found: 404,
  code_mismatch: 422,
  code_expired: 410,
  too_many_attempts: 429,
  rate_limited: 429,
  resend_cooldown: 429,
  factor_not_ready: 409,
  step_up_required: 403,
  invalid_credentials: 401,
  unauthorized: 401,
  forbidden: 403,
  not_assigned: 403,
  handoff_locked: 423,
  window_closed: 410,
  already_handed_off: 409,
  unknown_template: 422,
  idempotency_conflict: 409,
  destination_refused: 422,
  prefix_quarantined: 429,
  account_locked: 429,
  invalid_signature: 401,
  conflict: 409,
  service_unavailable: 503,
  upstream_timeout: 503,
  internal_error: 500,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: string): value is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}
