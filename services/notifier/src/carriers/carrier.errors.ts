/**
 * Why a carrier did not take a message:
 * - `recipient`: the destination's fault (invalid number, opted out, blocked): no other carrier
 *   or retry can fix it; not counted by the breaker, not tried elsewhere.
 * - `throttled`: the carrier asked us to slow down.
 * - `timeout`: no answer in time (the call was aborted).
 * - `unavailable`: connection refused or dropped, 5xx, bind failed.
 * - `rejected`: the carrier refused this submission for another reason (content, encoding,
 *   our account); another carrier may take it.
 */
export type CarrierErrorKind = 'recipient' | 'throttled' | 'timeout' | 'unavailable' | 'rejected';

export interface CarrierErrorDetails {
  /** The carrier's own status (SMPP command_status as hex, vendor error code, SMTP reply code). */
  providerCode?: string;
  /** The carrier's Retry-After, when it gave one. */
  retryAfterMs?: number;
  cause?: unknown;
}

/** One carrier tried (or passed over) for a message. */
export interface SendAttempt {
  carrierId: string;
  outcome: 'accepted' | 'failed' | 'recipient' | 'open' | 'rate_limited' | 'bulkhead_full';
  kind?: CarrierErrorKind;
  /** Error message: carrier and status only, never a destination or text. */
  error?: string;
  durationMs: number;
  at: Date;
}

/**
 * The only error a carrier's `send` throws. Messages name the carrier and its status,
 * never the destination or the body.
 */
export class CarrierError extends Error {
  override readonly name = 'CarrierError';
  readonly kind: CarrierErrorKind;
  readonly providerCode?: string;
  readonly retryAfterMs?: number;
  /** Set by the FailoverSender on the recipient error it rethrows: every carrier tried. */
  attempts?: readonly SendAttempt[];

  constructor(
    readonly carrierId: string,
    readonly retryable: boolean,
    message: string,
    kind?: CarrierErrorKind,
    details: CarrierErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.kind = kind ?? (retryable ? 'unavailable' : 'recipient');
    if (details.providerCode !== undefined) this.providerCode = details.providerCode;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
  }

  static recipient(
    carrierId: string,
    message: string,
    details?: CarrierErrorDetails,
  ): CarrierError {
    return new CarrierError(carrierId, false, message, 'recipient', details);
  }
  static throttled(
    carrierId: string,
    message: string,
    details?: CarrierErrorDetails,
  ): CarrierError {
    return new CarrierError(carrierId, true, message, 'throttled', details);
  }
  static timeout(carrierId: string, message: string, details?: CarrierErrorDetails): CarrierError {
    return new CarrierError(carrierId, true, message, 'timeout', details);
  }
  static unavailable(
    carrierId: string,
    message: string,
    details?: CarrierErrorDetails,
  ): CarrierError {
    return new CarrierError(carrierId, true, message, 'unavailable', details);
  }
  static rejected(carrierId: string, message: string, details?: CarrierErrorDetails): CarrierError {
    return new CarrierError(carrierId, true, message, 'rejected', details);
  }
}

export function isRecipientFault(error: unknown): error is CarrierError {
  return error instanceof CarrierError && !error.retryable;
}

/** Every carrier for the message failed, was open, throttled or full: worth retrying later. */
export class AllCarriersFailedError extends Error {
  override readonly name = 'AllCarriersFailedError';
  readonly retryable = true;
  readonly code = 'service_unavailable';
  constructor(
    readonly attempts: readonly SendAttempt[],
    readonly reason: 'exhausted' | 'aborted' = 'exhausted',
  ) {
    super(
      reason === 'aborted'
        ? 'send aborted by the caller'
        : `all carriers failed: ${attempts.map((a) => `${a.carrierId}=${a.kind ?? a.outcome}`).join(', ') || 'none tried'}`,
    );
  }
}

/** The message's `notAfter` passed (or too little life was left) before a carrier took it: drop it, never send late. */
export class MessageExpiredError extends Error {
  override readonly name = 'MessageExpiredError';
  readonly retryable = false;
  readonly code = 'expired';
  constructor(readonly attempts: readonly SendAttempt[]) {
    super('message expired before a carrier accepted it');
  }
}

/** No carrier is configured for the message's channel and country. */
export class NoRouteError extends Error {
  override readonly name = 'NoRouteError';
  readonly retryable = false;
  readonly code = 'no_route';
  constructor(readonly channel: string) {
    super(`no carrier configured for ${channel} to this destination`);
  }
}
