import { ERROR_CODES, type ErrorCode } from '@phonegate/contracts';

/**
 * The one base error of the platform. The code is stable (libs/contracts);
 * the HTTP status is decided from it at the edge, and the bus decides from
 * `retryable` whether to retry or park.
 */
export class DomainError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extra: Record<string, unknown> = {},
    readonly retryable = ERROR_CODES[code] >= 500,
  ) {
    super(detail);
    this.name = 'DomainError';
    this.status = ERROR_CODES[code];
  }

  /** Seconds for a `Retry-After` header, when the error carries one. */
  get retryAfterSeconds(): number | undefined {
    const v = this.extra['retryAfter'];
    return typeof v === 'number' && Number.isFinite(v) ? Math.max(1, Math.ceil(v)) : undefined;
  }
}

export function isDomainError(e: unknown): e is DomainError {
  return e instanceof DomainError;
}
