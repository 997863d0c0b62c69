import { DomainError, scrubText } from '@phonegate/platform';
import { ZodError } from 'zod';

/** Base of the transport's own failures (never sent over the wire). */
export class BusError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The bus was closed (shutdown) before the operation could finish. */
export class BusClosedError extends BusError {
  constructor(what = 'bus') {
    super(`${what} is closed`);
  }
}

/** A publish was not confirmed by the broker before its deadline. */
export class PublishTimeoutError extends BusError {
  constructor(
    readonly routingKey: string,
    readonly timeoutMs: number,
    readonly lastFailure: string | undefined,
  ) {
    super(
      `publish of ${routingKey} not confirmed by the broker within ${timeoutMs} ms` +
        (lastFailure ? ` (last failure: ${lastFailure})` : ''),
    );
  }
}

/**
 * The connection to the broker has been down longer than the publisher's grace: publishes fail at
 * once (the caller answers 503 now) instead of each waiting for its deadline.
 */
export class BusUnavailableError extends BusError {
  constructor(readonly downForMs: number) {
    // Whole seconds: one message a second of an outage in the logs, not one per request.
    super(`the bus has been disconnected for ${Math.floor(downForMs / 1000)} s; not publishing`);
  }
}

/** Too many publishes wait for the broker (a long outage): new ones fail at once instead of filling memory. */
export class PublisherOverloadedError extends BusError {
  constructor(readonly pending: number) {
    super(`${pending} publishes are already waiting for the broker; refusing more`);
  }
}

/**
 * Data that does not match its contract. Raised on publish (a programming
 * error) and on consume (the message is parked, never retried). The message
 * names paths and zod issue codes only, never values (they may be secrets).
 */
export class ContractViolationError extends BusError {
  readonly retryable = false;
  constructor(
    readonly type: string,
    readonly issues: readonly { path: string; code: string }[],
  ) {
    super(
      `${type} does not match its contract: ${issues.map((i) => `${i.path || '(root)'} ${i.code}`).join(', ')}`,
    );
  }

  static fromZod(type: string, error: ZodError): ContractViolationError {
    return new ContractViolationError(
      type,
      error.issues.map((i) => ({ path: i.path.map(String).join('.'), code: i.code })),
    );
  }
}

/** A sensitive field that cannot be decrypted (unknown key id, tampered value). */
export class DecryptError extends BusError {
  readonly retryable = false;
}

/** A message that is not a CloudEvents envelope we can read. */
export class MalformedMessageError extends BusError {
  readonly retryable = false;
}

/** An event type that no handler or contract of this service knows. */
export class UnknownEventError extends BusError {
  readonly retryable = false;
}

/** The `service_unavailable` error every failed request-reply turns into. */
export function serviceUnavailable(
  detail: string,
  extra: Record<string, unknown> = {},
): DomainError {
  return new DomainError('service_unavailable', detail, extra, true);
}

export interface FailureVerdict {
  retryable: boolean;
  /** Short, log-safe reason stored in `x-failure-reason`. */
  reason: string;
}

const MAX_REASON = 500;

/**
 * How a consumer treats an error thrown by a handler: a DomainError or any
 * error that says `retryable: false`, a contract violation or an undecryptable
 * field parks the message at once; anything else is retried with back-off.
 */
export function classifyFailure(error: unknown): FailureVerdict {
  if (error instanceof ZodError)
    return classifyFailure(ContractViolationError.fromZod('payload', error));
  if (error instanceof Error) {
    const retryable = (error as { retryable?: unknown }).retryable !== false;
    const code = (error as { code?: unknown }).code;
    const prefix = typeof code === 'string' ? `${code}: ` : `${error.name}: `;
    return { retryable, reason: truncate(prefix + error.message) };
  }
  if (error && typeof error === 'object' && 'message' in error) {
    // Nest's default RPC exception filter turns unknown errors into
    // `{ status: 'error', message }`: the original is lost, so retry.
    return { retryable: true, reason: truncate(`handler failed: ${String(error.message)}`) };
  }
  return { retryable: true, reason: truncate(`handler failed: ${String(error)}`) };
}

/** Reasons end up in logs and in DLQ headers (SECURITY L1): phone numbers are masked. */
function truncate(text: string): string {
  const safe = scrubText(text);
  return safe.length > MAX_REASON ? `${safe.slice(0, MAX_REASON - 1)}…` : safe;
}
