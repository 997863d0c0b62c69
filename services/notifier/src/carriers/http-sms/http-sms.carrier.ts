import type { Logger } from '@phonegate/platform';
import pino from 'pino';
import { CarrierError } from '../carrier.errors';
import type { Accepted, Carrier, Channel, OutboundMessage } from '../carrier.types';
import { carrierErrorOfHttp } from './http-errors';

export interface HttpSmsCarrierConfig {
  id: string;
  /** API base, e.g. `http://127.0.0.1:4010` (paths `/v1/accounts/:sid/messages` and `/calls` under it). */
  baseUrl: string;
  accountSid: string;
  /** Basic-auth password and the key of the status-callback signature. */
  authToken: string;
  /** Default sender (a number or an alphanumeric id for SMS; a number for voice). */
  from: string;
  channels: readonly ('sms' | 'voice')[];
  /** Where the carrier posts status callbacks (`<notifier>/v1/carriers/<id>/receipts`). */
  statusCallbackUrl?: string;
  /** `language` of the spoken text (voice). */
  voiceLanguage?: string;
}

function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
}

/** The TwiML-style document that speaks `text`. */
export function sayTwiml(text: string, language = 'en'): string {
  return `<Response><Say language="${escapeXml(language)}">${escapeXml(text)}</Say></Response>`;
}

/**
 * SMS and voice over a CPaaS-style HTTP API: form-encoded POST to
 * `/v1/accounts/:sid/messages` (To, From, Body, StatusCallback) or `/calls` (To, From, Twiml,
 * StatusCallback) with basic auth; 201 `{sid}` is acceptance. Errors map as `carrierErrorOfHttp`
 * says; a refused connection → unavailable; an abort → timeout. Receipts come back as signed
 * status callbacks (see `verifyCallbackSignature`, `parseStatusCallback`).
 */
export class HttpSmsCarrier implements Carrier {
  readonly id: string;
  readonly channels: readonly Channel[];
  private readonly authorization: string;
  private readonly logger: Logger;

  constructor(
    private readonly config: HttpSmsCarrierConfig,
    logger?: Logger,
  ) {
    this.id = config.id;
    this.channels = [...config.channels];
    this.authorization = `Basic ${Buffer.from(`${config.accountSid}:${config.authToken}`).toString('base64')}`;
    this.logger = (logger ?? pino({ level: 'silent' })).child({ carrier: config.id });
  }

  async send(message: OutboundMessage): Promise<Accepted> {
    if (message.channel !== 'sms' && message.channel !== 'voice') {
      throw CarrierError.rejected(this.id, `${this.id}: channel ${message.channel} not supported`);
    }
    if (!this.channels.includes(message.channel))
      throw CarrierError.rejected(this.id, `${this.id}: channel ${message.channel} not enabled`);
    if (message.signal.aborted) throw this.abortError(message.signal);
    const form = new URLSearchParams({ To: message.to, From: message.from ?? this.config.from });
    if (message.channel === 'sms') form.set('Body', message.body);
    else form.set('Twiml', sayTwiml(message.body, this.config.voiceLanguage));
    if (this.config.statusCallbackUrl) form.set('StatusCallback', this.config.statusCallbackUrl);
    const path = message.channel === 'sms' ? 'messages' : 'calls';
    const url = `${this.config.baseUrl.replace(/\/$/, '')}/v1/accounts/${encodeURIComponent(this.config.accountSid)}/${path}`;

    let res: Response;
    let body: unknown;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: this.authorization,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: form.toString(),
        signal: message.signal,
      });
      body = await res.json().catch(() => undefined);
    } catch (err) {
      if (message.signal.aborted) throw this.abortError(message.signal);
      throw CarrierError.unavailable(
        this.id,
        `${this.id}: request failed (${(err as Error & { cause?: { code?: string } }).cause?.code ?? 'network'})`,
        {
          cause: err,
        },
      );
    }
    const json = (body ?? {}) as { sid?: unknown; code?: unknown };
    if (!res.ok) {
      const code =
        typeof json.code === 'number'
          ? json.code
          : typeof json.code === 'string' && /^\d+$/.test(json.code)
            ? Number(json.code)
            : undefined;
      const error = carrierErrorOfHttp(this.id, res.status, code, res.headers.get('retry-after'));
      this.logger.info(
        {
          messageId: message.messageId,
          status: res.status,
          providerCode: error.providerCode,
          kind: error.kind,
        },
        'http send refused',
      );
      throw error;
    }
    if (typeof json.sid !== 'string' || !json.sid)
      throw CarrierError.unavailable(this.id, `${this.id}: answer without a sid`);
    return { carrierId: this.id, providerMessageId: json.sid, acceptedAt: new Date() };
  }

  private abortError(signal: AbortSignal): CarrierError {
    const reason: unknown = signal.reason;
    return reason instanceof CarrierError
      ? reason
      : CarrierError.timeout(this.id, `${this.id}: send aborted`);
  }
}
