import type { Logger } from '@phonegate/platform';
import nodemailer, { type Transporter } from 'nodemailer';
import pino from 'pino';
import { CarrierError } from '../carrier.errors';
import type {
  Accepted,
  Carrier,
  Channel,
  LateAcceptanceListener,
  OutboundMessage,
} from '../carrier.types';
import { LateAcceptances } from '../late-acceptances';

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

/**
 * Reply codes that, at RCPT, say the recipient's address is bad (RFC 5321 §4.2.3, §4.3.2):
 * 501 syntax error in the address, 550 mailbox unavailable, 551 user not local, 553 mailbox
 * name not allowed, 554 transaction failed / no valid recipients. WIRE VALUES.
 */
const RECIPIENT_CODES = new Set([501, 550, 551, 553, 554]);
const THROTTLE_CODES = new Set([421, 450, 451, 452]);
/**
 * RFC 3463 enhanced statuses X.1.x that are about the destination address: 0 other, 1 bad
 * mailbox, 2 bad system, 3 bad address syntax, 4 ambiguous, 6 moved, 10 null MX (RFC 7505).
 * X.1.7 / X.1.8 are the sender's address (ours), X.1.5 is a success.
 */
const DESTINATION_ADDRESS_STATUS = /^5\.1\.(?:[0-4]|6|10)$/;

/** The enhanced status code (`5.1.3`) at the start of an SMTP reply's text, if any. */
export function enhancedStatusOf(response: string | undefined): string | undefined {
  const match = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})(?=\s|$)/.exec(response ?? '');
  return match?.[1];
}

/**
 * An SMTP failure as a CarrierError:
 * - recipient (not retryable, not counted by the breaker, B2): a 501/550/551/553/554 at RCPT,
 *   a 5xx whose enhanced status is a destination-address one (5.1.x) outside MAIL FROM, or no
 *   usable recipient address at all (nodemailer's EENVELOPE before any command);
 * - 421/45x → throttled (retryable); connection problems and 535/530 (auth, our account) →
 *   unavailable; other 5xx (a refused MAIL FROM is our sender address) → rejected.
 * The message names the carrier, the reply and enhanced codes and the command: never the address.
 */
export function carrierErrorOfSmtp(
  carrierId: string,
  err: {
    code?: string;
    responseCode?: number;
    command?: string;
    response?: string;
    message?: string;
  },
): CarrierError {
  const rc = err.responseCode;
  const providerCode = rc !== undefined ? String(rc) : (err.code ?? 'smtp');
  const command = (err.command ?? '').split(' ')[0]?.toUpperCase() ?? '';
  const enhanced = rc !== undefined ? enhancedStatusOf(err.response) : undefined;
  const what = `${carrierId}: SMTP ${providerCode}${enhanced ? ` ${enhanced}` : ''}${command ? ` at ${command}` : ''}`;
  // nodemailer refusing the envelope before sending: the recipient's fault only when it is the
  // recipient it cannot use ("No recipients defined", "Invalid recipient …"); an invalid sender
  // or DSN is ours, and stays a carrier-side failure the breaker sees.
  if (
    rc === undefined &&
    err.code === 'EENVELOPE' &&
    command !== 'MAIL' &&
    command !== 'RCPT' &&
    /^(No recipients defined|Invalid recipient)/.test(err.message ?? '')
  ) {
    return CarrierError.recipient(carrierId, `${what}: no usable recipient address`, {
      providerCode,
    });
  }
  if (
    rc !== undefined &&
    rc >= 500 &&
    command !== 'MAIL' &&
    ((command === 'RCPT' && RECIPIENT_CODES.has(rc)) ||
      (enhanced !== undefined && DESTINATION_ADDRESS_STATUS.test(enhanced)))
  ) {
    return CarrierError.recipient(carrierId, `${what}: recipient address refused`, {
      providerCode,
    });
  }
  if (rc !== undefined && THROTTLE_CODES.has(rc))
    return CarrierError.throttled(carrierId, what, { providerCode });
  if (rc === 535 || rc === 530 || rc === undefined)
    return CarrierError.unavailable(carrierId, what, { providerCode });
  if (rc >= 500) return CarrierError.rejected(carrierId, what, { providerCode });
  return CarrierError.unavailable(carrierId, what, { providerCode });
}

interface SentInfo {
  messageId?: string;
}

function providerIdOf(info: SentInfo): string {
  return (info.messageId ?? '').replace(/^<|>$/g, '');
}

/**
 * E-mail over SMTP with a pooled nodemailer transport. nodemailer cannot cancel a send in
 * flight, so an abort answers `timeout` at once and the mail may still go out (at least once):
 * if the server takes it after all, that is reported as a late acceptance (not cancelled).
 */
export class SmtpCarrier implements Carrier {
  readonly id: string;
  readonly channels: readonly Channel[] = ['email'];
  private readonly transport: Transporter;
  private readonly logger: Logger;
  private readonly late: LateAcceptances;

  constructor(
    private readonly config: SmtpCarrierConfig,
    logger?: Logger,
  ) {
    this.id = config.id;
    this.logger = (logger ?? pino({ level: 'silent' })).child({ carrier: config.id });
    this.late = new LateAcceptances(this.logger);
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
      const info = (await Promise.race([sending, aborted])) as SentInfo;
      return { carrierId: this.id, providerMessageId: providerIdOf(info), acceptedAt: new Date() };
    } catch (err) {
      if (err instanceof CarrierError) {
        // Aborted: the sender moves on, but the server may still take the mail.
        sending.then(
          (info) => this.reportLate(message.messageId, info as SentInfo),
          () => undefined,
        );
        throw err;
      }
      const error = carrierErrorOfSmtp(
        this.id,
        err as { code?: string; responseCode?: number; command?: string; response?: string },
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

  onLateAcceptance(listener: LateAcceptanceListener): void {
    this.late.on(listener);
  }

  async close(): Promise<void> {
    this.transport.close();
  }

  private reportLate(messageId: string, info: SentInfo): void {
    const providerMessageId = providerIdOf(info);
    this.logger.warn(
      { messageId, providerMessageId },
      'late mail accepted after its deadline, cannot be withdrawn',
    );
    this.late.report({
      carrierId: this.id,
      messageId,
      providerMessageId,
      at: new Date(),
      cancelled: false,
    });
  }

  private abortError(signal: AbortSignal): CarrierError {
    const reason: unknown = signal.reason;
    return reason instanceof CarrierError
      ? reason
      : CarrierError.timeout(this.id, `${this.id}: send aborted`);
  }
}
