import type { Logger } from '@phonegate/platform';
import nodemailer, { type Transporter } from 'nodemailer';
import pino from 'pino';
import { CarrierError } from '../carrier.errors';
import type { Accepted, Carrier, Channel, OutboundMessage } from '../carrier.types';

export interface SmtpCarrierConfig {
  id: string;
  host: string;
  port: number;
  /** TLS from the first byte (port 465). */
  secure: boolean;
  /** Insist on STARTTLS (production); false lets a plain server (the simulator) through. */
  requireTls: boolean;
  user?: string;
  password?: string;
  /** Default From, e.g. `"Shop" <no-reply@shop.example>`. */
  from: string;
  maxConnections: number;
  /** Connect / greeting / socket deadlines of the transport. */
  connectionTimeoutMs: number;
}

/** SMTP reply codes that are the recipient's fault (mailbox unknown, refused, not allowed). WIRE VALUES. */
const RECIPIENT_CODES = new Set([550, 551, 553, 554]);
const THROTTLE_CODES = new Set([421, 450, 451, 452]);

/**
 * An SMTP failure as a CarrierError: a 55x at RCPT (or EENVELOPE with a 55x) → recipient, not
 * retryable; 421/45x → throttled (retryable); connection problems → unavailable; 535 (auth)
 * → unavailable (our account: counts against the carrier); other 5xx → rejected.
 */
export function carrierErrorOfSmtp(
  carrierId: string,
  err: { code?: string; responseCode?: number; command?: string },
): CarrierError {
  const rc = err.responseCode;
  const providerCode = rc !== undefined ? String(rc) : (err.code ?? 'smtp');
  const what = `${carrierId}: SMTP ${providerCode}${err.command ? ` at ${err.command.split(' ')[0]}` : ''}`;
  if (
    rc !== undefined &&
    RECIPIENT_CODES.has(rc) &&
    (err.code === 'EENVELOPE' || /^RCPT/i.test(err.command ?? ''))
  ) {
    return CarrierError.recipient(carrierId, what, { providerCode });
  }
  if (rc !== undefined && THROTTLE_CODES.has(rc))
    return CarrierError.throttled(carrierId, what, { providerCode });
  if (rc === 535 || rc === 530 || rc === undefined)
    return CarrierError.unavailable(carrierId, what, { providerCode });
  if (rc >= 500) return CarrierError.rejected(carrierId, what, { providerCode });
  return CarrierError.unavailable(carrierId, what, { providerCode });
}

/**
 * E-mail over SMTP with a pooled nodemailer transport. nodemailer cannot cancel a send in
 * flight, so an abort answers `timeout` at once and the mail may still go out (at least once).
 */
export class SmtpCarrier implements Carrier {
  readonly id: string;
  readonly channels: readonly Channel[] = ['email'];
  private readonly transport: Transporter;
  private readonly logger: Logger;

  constructor(
    private readonly config: SmtpCarrierConfig,
    logger?: Logger,
  ) {
    this.id = config.id;
    this.logger = (logger ?? pino({ level: 'silent' })).child({ carrier: config.id });
    this.transport = nodemailer.createTransport({
      pool: true,
      host: config.host,
      port: config.port,
      secure: config.secure,
      requireTLS: config.requireTls,
      ignoreTLS: !config.secure && !config.requireTls,
      maxConnections: config.maxConnections,
      connectionTimeout: config.connectionTimeoutMs,
      greetingTimeout: config.connectionTimeoutMs,
      socketTimeout: Math.max(config.connectionTimeoutMs, 10_000),
      ...(config.user ? { auth: { user: config.user, pass: config.password ?? '' } } : {}),
    });
  }

  async send(message: OutboundMessage): Promise<Accepted> {
    if (message.channel !== 'email')
      throw CarrierError.rejected(this.id, `${this.id}: channel ${message.channel} not supported`);
    if (message.signal.aborted) throw this.abortError(message.signal);
    const sending = this.transport.sendMail({
      from: message.from ?? this.config.from,
      to: message.to,
      subject: message.subject ?? '',
      text: message.body,
      ...(message.html ? { html: message.html } : {}),
      headers: { 'X-Phonegate-Message-Id': message.messageId },
    });
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(this.abortError(message.signal));
      message.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const info = (await Promise.race([sending, aborted])) as { messageId?: string };
      const providerMessageId = (info.messageId ?? '').replace(/^<|>$/g, '');
      return { carrierId: this.id, providerMessageId, acceptedAt: new Date() };
    } catch (err) {
      if (err instanceof CarrierError) {
        sending.catch(() => undefined);
        throw err;
      }
      const error = carrierErrorOfSmtp(
        this.id,
        err as { code?: string; responseCode?: number; command?: string },
      );
      this.logger.info(
        { messageId: message.messageId, providerCode: error.providerCode, kind: error.kind },
        'smtp send refused',
      );
      throw error;
    } finally {
      if (onAbort) message.signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }

  private abortError(signal: AbortSignal): CarrierError {
    const reason: unknown = signal.reason;
    return reason instanceof CarrierError
      ? reason
      : CarrierError.timeout(this.id, `${this.id}: send aborted`);
  }
}
