import type { Logger } from 'pino';

export type SimChannel = 'sms' | 'voice' | 'email';
export type SimProtocol = 'smpp' | 'http' | 'smtp';

/** Final outcome a simulated carrier reports in its receipts / status callbacks. */
/** `expired`: the validity period ran out before the handset took it (SMPP EXPIRED; HTTP `failed` 30036). */
export type SimReceiptStatus = 'delivered' | 'undelivered' | 'failed' | 'expired';

/** What a simulated carrier does with the next submissions; changed at run time by `PUT /_sim/carriers/:name`. */
export interface SimBehaviour {
  /** Delay before the carrier answers a submission (SMPP submit_sm_resp, HTTP response, SMTP DATA reply). */
  latencyMs: number;
  /** Fraction 0..1 of submissions answered with a carrier-side error (SMPP 0x08, HTTP 500, SMTP 451). */
  errorRate: number;
  /**
   * `true`: every submission is throttled (SMPP 0x58, HTTP 429, SMTP 452).
   * A number n: at most n submissions a second are accepted, the rest throttled. `false`: no throttling.
   */
  throttle: boolean | number;
  /** SMPP refuses binds and drops its sessions, HTTP answers 503, SMTP greets with 421. */
  down: boolean;
  /** Delay between accepting a message and sending its receipt / final status callback. */
  receiptDelayMs: number;
  /** Outcome reported in receipts and callbacks. */
  receiptStatus: SimReceiptStatus;
  /** Destinations (E.164 prefixes, or e-mail domains after '@') refused as the recipient's fault. */
  invalidPrefixes: string[];
  /**
   * SMPP cancel_sm withdraws a message not yet delivered (`true`), or is refused with `0x11`
   * whatever the message's state, as by a centre that does not support it (`false`).
   */
  cancellable: boolean;
  /**
   * SMPP: refuse every submit_sm that is segment `segment` (UDH/SAR sequence number) of a
   * concatenated message, with `0x0B` (`invalid`) or `0x58` (`throttled`); the other segments
   * are answered as usual. `false`: none.
   */
  refuseSegment: false | { segment: number; status: 'invalid' | 'throttled' };
  /**
   * SMPP: an extra receipt for every segment as soon as the message is taken, before the final
   * one (`receiptDelayMs` later): `stat` is its `stat:` word and `messageState` its
   * `message_state` TLV (none when left out), e.g. an intermediate `{stat: 'ENROUTE',
   * messageState: 1}` or SMPP 5.0 `{stat: 'SCHEDULED', messageState: 0}`, or a final word sent
   * early (SMPP 5.0 `{stat: 'SKIPPED', messageState: 9}`). `false`: none.
   */
  interimReceipt: false | { stat: string; messageState?: number };
  /** SMPP: the final receipt of segment `segment` reports `status` instead of `receiptStatus`. `false`: none. */
  segmentReceiptStatus: false | { segment: number; status: SimReceiptStatus };
  /**
   * SMPP: how many times each receipt is sent, back to back (as a centre that resends a
   * deliver_sm it thinks was lost). Default 1.
   */
  receiptCopies: number;
  /**
   * SMPP: every segment's final receipt is sent at once, before its own submit_sm_resp (a race
   * some centres have), instead of `receiptDelayMs` after the message is complete. Default false.
   */
  receiptBeforeResponse: boolean;
  /**
   * SMPP: every segment of a concatenated message is answered with the same `message_id` (some
   * centres name the message, not the segment); each segment still gets its own receipt, under
   * that id. Default false.
   */
  sameSegmentIds: boolean;
}

interface SimCarrierBase {
  /** Unique name, used by the control API (`/_sim/carriers/:name`). */
  name: string;
  behaviour?: Partial<SimBehaviour>;
}

export interface SimSmppCarrier extends SimCarrierBase {
  protocol: 'smpp';
  /** SMPP system_id (≤ 15 characters) and password (≤ 8 characters) the client binds with. */
  systemId: string;
  password: string;
}

export interface SimHttpCarrier extends SimCarrierBase {
  protocol: 'http';
  /** Account SID in the URL path and the basic-auth user. */
  accountSid: string;
  /** Basic-auth password, and the HMAC key of the `X-Sim-Signature` on status callbacks. */
  authToken: string;
  /** Which endpoints it serves: sms → /messages, voice → /calls. Default both. */
  channels?: ('sms' | 'voice')[];
}

export interface SimSmtpCarrier extends SimCarrierBase {
  protocol: 'smtp';
  /** AUTH PLAIN/LOGIN credentials; AUTH is optional, but when given they must match. */
  username?: string;
  password?: string;
}

export type SimCarrierDefinition = SimSmppCarrier | SimHttpCarrier | SimSmtpCarrier;

export interface CarrierSimOptions {
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** SMPP port; 0 = ephemeral; false = no SMPP server. Default 0. */
  smppPort?: number | false;
  /** Port of the CPaaS-style HTTP API (also serves `/_sim/*`). 0 = ephemeral; false = none. Default 0. */
  httpPort?: number | false;
  /** SMTP port; 0 = ephemeral; false = none. Default 0. */
  smtpPort?: number | false;
  /**
   * A separate port for the control API. `'http'` (default): the control API is served on the
   * HTTP API's port only. A number (0 = ephemeral): served there too.
   */
  controlPort?: number | 'http';
  /** Simulated carriers. Default: `DEFAULT_SIM_CARRIERS`. */
  carriers?: SimCarrierDefinition[];
  /** How many messages the store keeps (oldest dropped first). Default 10 000. */
  maxMessages?: number;
  /** Source of randomness for `errorRate` (tests may pin it). Default Math.random. */
  random?: () => number;
  logger?: Logger;
}

/** One message as the simulator received it. */
export interface SimMessage {
  /** The id the carrier answered with (SMPP message_id of the first segment, HTTP sid, SMTP Message-ID). */
  id: string;
  channel: SimChannel;
  /** E.164 for sms/voice, the address for e-mail. */
  to: string;
  from: string;
  body: string;
  subject?: string;
  html?: string;
  /**
   * accepted → delivered | undelivered | failed (after the receipt / callback), or `cancelled`
   * (SMPP cancel_sm before its receipt: it never reached the handset, and no receipt follows).
   */
  status: 'accepted' | 'sent' | 'cancelled' | SimReceiptStatus;
  carrier: string;
  protocol: SimProtocol;
  /** ISO time the message was complete at the simulator. */
  createdAt: string;
  /** Epoch milliseconds (with fraction) the first byte/segment arrived: for request → carrier latency. */
  receivedAt: number;
  /** SMPP: segment count, data_coding, every segment's message_id. */
  segments?: number;
  dataCoding?: number;
  segmentIds?: string[];
  /** SMTP: the envelope and Message-ID. */
  envelopeFrom?: string;
  messageIdHeader?: string;
}

export interface SimCarrierStats {
  accepted: number;
  throttled: number;
  errors: number;
  invalid: number;
  refused: number;
  /** Messages withdrawn by cancel_sm before they reached the handset. */
  cancelled: number;
  receiptsSent: number;
  callbacksSent: number;
  callbacksFailed: number;
}
