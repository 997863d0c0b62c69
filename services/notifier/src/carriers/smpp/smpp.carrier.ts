import type { Socket } from 'node:net';
import type { Logger } from '@phonegate/platform';
import pino from 'pino';
import { CarrierError } from '../carrier.errors';
import type {
  Accepted,
  Carrier,
  CarrierReceipt,
  Channel,
  LateAcceptanceListener,
  OutboundMessage,
  ReceiptListener,
  ReceiptStatus,
} from '../carrier.types';
import { LateAcceptances } from '../late-acceptances';
import {
  normalizeMessageId,
  type ParsedReceipt,
  parseDeliveryReceipt,
} from './delivery-receipt.parser';
import { buildSubmitParts, type SubmitPart } from './sms-encoding';
import { smppLib, type SmppPdu, type SmppSession } from './smpp.lib';
import { carrierErrorOfStatus, smppStatusHex } from './smpp-status';

export interface SmppCarrierConfig {
  id: string;
  host: string;
  port: number;
  systemId: string;
  password: string;
  systemType?: string;
  /** Default sender: an alphanumeric id (≤ 11), a short code or an E.164 number. */
  sourceAddr: string;
  /** Outstanding submit_sm without a submit_sm_resp, at most (SMPP window). */
  window: number;
  enquireLinkMs: number;
  /** A submit_sm_resp later than this frees its window slot and fails the message (timeout). */
  responseTimeoutMs: number;
  bindTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** Ask for delivery receipts (registered_delivery 1). */
  registeredDelivery: boolean;
  /** Longest text, in segments, we submit; longer → `rejected`, not retryable. */
  maxSegments: number;
}

export const SMPP_CARRIER_DEFAULTS = {
  window: 10,
  enquireLinkMs: 30_000,
  responseTimeoutMs: 10_000,
  bindTimeoutMs: 5_000,
  reconnectMinMs: 250,
  reconnectMaxMs: 30_000,
  registeredDelivery: true,
  maxSegments: 10,
} as const;

type State = 'idle' | 'connecting' | 'bound' | 'backoff' | 'closed';

/** One message: its segments resolve it together. */
interface Group {
  messageId: string;
  ids: (string | undefined)[];
  remaining: number;
  settled: boolean;
  /**
   * Settled without being accepted: whatever the centre took or still takes of it is withdrawn
   * (cancel_sm). `late` (aborted, timed out): what it takes is reported as a late acceptance.
   * `refused` (a segment refused on time): it is not (nothing was taken after a deadline).
   */
  givenUp?: 'late' | 'refused';
  /** What was reported of it as a late acceptance so far. */
  late?: 'cancelled' | 'not_cancelled';
  /** The addresses of its submits (cancel_sm must name them). */
  source: { addr: string; ton: number; npi: number };
  /** Its segments' receipts, tracked from the first submit_sm_resp on (registered delivery). */
  receipts?: ReceiptTracking;
  dest: string;
  resolve(accepted: Accepted): void;
  reject(error: CarrierError): void;
  cleanup(): void;
}

/** One submit_sm (a segment). */
interface Entry {
  seq: number;
  group: Group;
  index: number;
  params: Record<string, unknown>;
  sentOn?: SmppSession;
  timer?: NodeJS.Timeout;
  /** Its submit_sm_resp came (on `sentOn`). */
  answered?: boolean;
}

interface ReceiptTracking {
  messageId: string;
  /** The first segment's id (the message's, as accepted), once every segment was taken. */
  providerMessageId?: string;
  /**
   * By segment index: its id once taken, and whether its final receipt is in. Completion is
   * counted per segment, not per id: a centre may answer every segment with the same id.
   */
  segments: ({ id: string; done: boolean } | undefined)[];
  /**
   * Final receipts for an id whose taken segments all have theirs while other segments are not
   * taken yet: with one id for every segment, the next segment's receipt can come before its
   * answer. Taken by the next segment answered with that id (a copy of a receipt stays here).
   */
  spare: Map<string, ParsedReceipt[]>;
  status: ReceiptStatus;
  errorCode?: string;
}

/** Final receipts held for one id (several when a centre gives every segment the same id). */
interface HeldReceipts {
  receipts: ParsedReceipt[];
  timer: NodeJS.Timeout;
}

const TRACKING_LIMIT = 100_000;
/** Receipts held while the submit_sm_resp naming their id may still be on its way. */
const EARLY_LIMIT = 10_000;
const EARLY_HOLD_MS = 2_000;

/** Worse outcome wins when segments disagree: any failure beats delivered. */
const SEVERITY: Record<ReceiptStatus, number> = {
  sent: 0,
  delivered: 1,
  unknown: 2,
  expired: 3,
  undelivered: 4,
  rejected: 5,
  failed: 6,
};

function messageIdOf(resp: SmppPdu): string {
  return normalizeMessageId(typeof resp['message_id'] === 'string' ? resp['message_id'] : '');
}

export function sourceAddress(from: string): { addr: string; ton: number; npi: number } {
  if (/^\+\d+$/.test(from)) return { addr: from.slice(1), ton: 1, npi: 1 };
  if (/^\d{1,8}$/.test(from)) return { addr: from, ton: 3, npi: 0 };
  if (/^\d+$/.test(from)) return { addr: from, ton: 1, npi: 1 };
  return { addr: from.slice(0, 11), ton: 5, npi: 0 };
}

/**
 * SMS over SMPP 3.4 as an ESME (bind_transceiver). Keeps one session: binds on the first send
 * (or `start()`), keeps it alive with enquire_link, rebinds with exponential back-off when it
 * drops. At most `window` submits wait for their submit_sm_resp; the rest queue in order.
 * Submits that were on the wire when a session dropped are resent after the rebind (at least
 * once: the MC may have taken one before the drop). Long texts go as UDH-concatenated
 * segments; the message is accepted when every segment is, with the first segment's id.
 * Receipts (deliver_sm) are answered and reported per message once every segment's is in.
 */
export class SmppCarrier implements Carrier {
  readonly id: string;
  readonly channels: readonly Channel[] = ['sms'];

  private state: State = 'idle';
  private session?: SmppSession;
  private readonly queue: Entry[] = [];
  private readonly outstanding = new Set<Entry>();
  private readonly listeners: ReceiptListener[] = [];
  private readonly late: LateAcceptances;
  private readonly tracking = new Map<string, ReceiptTracking>();
  /**
   * Final receipts for ids no submit_sm_resp has named yet, while answers are awaited: a centre
   * can send a segment's receipt before that segment's (or another's) answer.
   */
  private readonly early = new Map<string, HeldReceipts>();
  private readonly boundWaiters: (() => void)[] = [];
  private failures = 0;
  private nextSeq = 0;
  private nextRef = Math.floor(Math.random() * 256);
  private reconnectTimer?: NodeJS.Timeout;
  private enquireTimer?: NodeJS.Timeout;
  /** The socket corked until the next tick, if any. */
  private corked?: Socket;
  private readonly config: SmppCarrierConfig;
  private readonly logger: Logger;

  constructor(
    config: Omit<SmppCarrierConfig, keyof typeof SMPP_CARRIER_DEFAULTS> &
      Partial<SmppCarrierConfig>,
    logger?: Logger,
  ) {
    this.config = { ...SMPP_CARRIER_DEFAULTS, ...config };
    this.id = config.id;
    this.logger = (logger ?? pino({ level: 'silent' })).child({ carrier: config.id });
    this.late = new LateAcceptances(this.logger);
  }

  /** bound | connecting | backoff | idle | closed, and the window use, for health. */
  status(): { session: State; inFlight: number; queued: number } {
    return { session: this.state, inFlight: this.outstanding.size, queued: this.queue.length };
  }

  onReceipt(listener: ReceiptListener): void {
    this.listeners.push(listener);
  }

  onLateAcceptance(listener: LateAcceptanceListener): void {
    this.late.on(listener);
  }

  /** Starts binding; resolves when bound or once the first attempt failed (it keeps retrying). */
  async start(): Promise<void> {
    if (this.state === 'idle') this.connect();
    if (this.state === 'bound') return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, this.config.bindTimeoutMs + 100);
      this.boundWaiters.push(done);
    });
  }

  /** Resolves once bound (tests); rejects after timeoutMs. */
  async whenBound(timeoutMs = 5_000): Promise<void> {
    if (this.state === 'idle') this.connect();
    const until = Date.now() + timeoutMs;
    while (this.state !== 'bound') {
      if (Date.now() > until || this.state === 'closed')
        throw new Error(`${this.id} not bound within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async send(message: OutboundMessage): Promise<Accepted> {
    if (message.channel !== 'sms')
      throw CarrierError.rejected(this.id, `${this.id}: channel ${message.channel} not supported`);
    if (this.state === 'closed')
      throw CarrierError.unavailable(this.id, `${this.id}: carrier closed`);
    if (message.signal.aborted) throw this.abortError(message.signal);
    // After a failed bind, fail fast so the sender moves on; what already waits keeps waiting.
    if (this.state === 'backoff')
      throw CarrierError.unavailable(this.id, `${this.id}: not bound (reconnecting)`);
    let parts: SubmitPart[];
    try {
      parts = buildSubmitParts(message.body, this.nextRef++ & 0xff);
    } catch {
      throw new CarrierError(this.id, false, `${this.id}: text too long`, 'rejected');
    }
    if (parts.length > this.config.maxSegments) {
      throw new CarrierError(
        this.id,
        false,
        `${this.id}: text needs ${parts.length} segments (max ${this.config.maxSegments})`,
        'rejected',
      );
    }
    const dest = message.to.replace(/^\+/, '');
    const source = sourceAddress(message.from ?? this.config.sourceAddr);

    return new Promise<Accepted>((resolve, reject) => {
      // SMPP cannot take back a submit_sm on the wire: the centre may still take it. Its
      // answer is awaited on the same session (dropping the session would not undo a PDU the
      // centre has read, would lose the message_id, and would fail every other submit in
      // flight); a copy it takes anyway is withdrawn with cancel_sm (`giveUp`).
      const onAbort = (): void => {
        if (group.settled) return;
        this.giveUp(group, this.abortError(message.signal));
        for (let i = this.queue.length - 1; i >= 0; i--)
          if (this.queue[i]!.group === group) this.queue.splice(i, 1);
      };
      const group: Group = {
        messageId: message.messageId,
        ids: parts.map(() => undefined),
        remaining: parts.length,
        settled: false,
        source,
        dest,
        resolve,
        reject,
        cleanup: () => message.signal.removeEventListener('abort', onAbort),
      };
      message.signal.addEventListener('abort', onAbort, { once: true });
      parts.forEach((part, index) => {
        this.queue.push({
          seq: this.nextSeq++,
          group,
          index,
          params: {
            source_addr: source.addr,
            source_addr_ton: source.ton,
            source_addr_npi: source.npi,
            dest_addr_ton: 1,
            dest_addr_npi: 1,
            destination_addr: dest,
            esm_class: part.esmClass,
            data_coding: part.dataCoding,
            short_message: part.shortMessage,
            registered_delivery: this.config.registeredDelivery ? 1 : 0,
          },
        });
      });
      if (this.state === 'idle') this.connect();
      this.pump();
    });
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const session = this.state === 'bound' ? this.session : undefined;
    this.state = 'closed';
    clearTimeout(this.reconnectTimer);
    clearInterval(this.enquireTimer);
    const closed = CarrierError.unavailable(this.id, `${this.id}: carrier closed`);
    for (const entry of [...this.queue, ...this.outstanding]) {
      clearTimeout(entry.timer);
      if (!entry.group.settled) this.settle(entry.group, () => entry.group.reject(closed));
    }
    this.queue.length = 0;
    this.outstanding.clear();
    // Receipts held for an answer that will not come now: their deliver_sm were acknowledged, so
    // the centre will not send them again. Reported as they are (as when the hold runs out).
    const held = [...this.early.values()];
    this.early.clear();
    for (const h of held) {
      clearTimeout(h.timer);
      this.emitHeld(h);
    }
    for (const w of this.boundWaiters.splice(0)) w();
    if (session) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        session.unbind({}, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.session?.destroy();
    this.session = undefined;
  }

  private abortError(signal: AbortSignal): CarrierError {
    const reason: unknown = signal.reason;
    return reason instanceof CarrierError
      ? reason
      : CarrierError.timeout(this.id, `${this.id}: send aborted`);
  }

  private settle(group: Group, fn: () => void): void {
    if (group.settled) return;
    group.settled = true;
    group.cleanup();
    fn();
  }

  /**
   * Fails the message here (the sender moves on) and withdraws what the centre already took of
   * it; segments it takes later are withdrawn as their answers come (`onSubmitResp`).
   */
  private giveUp(group: Group, error: CarrierError, why: 'late' | 'refused' = 'late'): void {
    if (group.settled) return;
    group.givenUp = why;
    // Not the message's any more: receipts of what the centre took are reported as they come.
    for (const segment of group.receipts?.segments ?? [])
      if (segment) this.tracking.delete(segment.id);
    delete group.receipts;
    this.settle(group, () => group.reject(error));
    for (const id of new Set(group.ids)) if (id) this.withdraw(group, id);
  }

  /**
   * cancel_sm for a copy the centre took of a message we gave up on. Given up for a deadline, it
   * is reported (and logged) as a late acceptance, cancelled or not, once a message (again if a
   * later segment could not be); refused on time, it is only logged.
   */
  private withdraw(group: Group, providerMessageId: string): void {
    const at = new Date();
    let done = false;
    const finish = (cancelled: boolean, status?: number): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const late = group.givenUp === 'late';
      this.logger[late || !cancelled ? 'warn' : 'info'](
        {
          messageId: group.messageId,
          providerMessageId,
          cancelled,
          ...(status !== undefined ? { status: smppStatusHex(status) } : {}),
        },
        `${late ? 'late submit accepted after its deadline' : 'segment of a refused message'}, ${
          cancelled ? 'withdrawn with cancel_sm' : 'could not be withdrawn'
        }`,
      );
      if (!late) return;
      if (group.late === 'not_cancelled' || (group.late === 'cancelled' && cancelled)) return;
      group.late = cancelled ? 'cancelled' : 'not_cancelled';
      this.late.report({
        carrierId: this.id,
        messageId: group.messageId,
        providerMessageId,
        at,
        cancelled,
      });
    };
    const timer = setTimeout(() => finish(false), this.config.responseTimeoutMs);
    timer.unref();
    const session = this.session;
    if (!session || this.state !== 'bound') return finish(false);
    const written = session.cancel_sm(
      {
        service_type: '',
        message_id: providerMessageId,
        source_addr_ton: group.source.ton,
        source_addr_npi: group.source.npi,
        source_addr: group.source.addr,
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: group.dest,
      },
      (resp) => finish(resp.command_status === 0, resp.command_status),
    );
    if (!written) finish(false);
  }

  private connect(): void {
    if (this.state === 'closed') return;
    this.state = 'connecting';
    const session = smppLib.connect({ host: this.config.host, port: this.config.port });
    this.session = session;
    let bound = false;
    const bindTimer = setTimeout(() => {
      this.logger.warn({ port: this.config.port }, 'smpp bind timed out');
      session.destroy();
    }, this.config.bindTimeoutMs);
    bindTimer.unref();

    session.on('error', (err: Error) => {
      this.logger.debug({ err: err.message }, 'smpp session error');
    });
    session.on('connect', () => {
      session.bind_transceiver(
        {
          system_id: this.config.systemId,
          password: this.config.password,
          system_type: this.config.systemType ?? '',
          interface_version: 0x34,
        },
        (resp) => {
          clearTimeout(bindTimer);
          if (this.session !== session || this.state === 'closed') return;
          if (resp.command_status !== 0) {
            this.logger.warn({ status: smppStatusHex(resp.command_status) }, 'smpp bind refused');
            session.destroy();
            return;
          }
          bound = true;
          this.state = 'bound';
          this.failures = 0;
          this.logger.info({ resent: this.queue.filter((e) => e.sentOn).length }, 'smpp bound');
          this.startEnquireLink(session);
          for (const w of this.boundWaiters.splice(0)) w();
          this.pump();
        },
      );
    });
    session.on('deliver_sm', (pdu: SmppPdu) => this.onDeliverSm(session, pdu));
    session.on('enquire_link', (pdu: SmppPdu) => session.send(pdu.response()));
    session.on('unbind', (pdu: SmppPdu) => {
      session.send(pdu.response(), () => session.destroy());
    });
    session.on('close', () => {
      clearTimeout(bindTimer);
      if (this.session !== session) return;
      this.onSessionClosed(session, bound);
    });
  }

  private onSessionClosed(session: SmppSession, wasBound: boolean): void {
    clearInterval(this.enquireTimer);
    this.session = undefined;
    // Unacknowledged submits of this session go back to the front of the queue, in order.
    const unacked = [...this.outstanding].filter((e) => e.sentOn === session);
    for (const entry of unacked) {
      this.outstanding.delete(entry);
      clearTimeout(entry.timer);
    }
    const resend = unacked.filter((e) => !e.group.settled).sort((a, b) => a.seq - b.seq);
    this.queue.unshift(...resend);
    if (this.state === 'closed') return;
    if (wasBound) {
      this.logger.warn({ unacknowledged: resend.length }, 'smpp session lost, rebinding');
      this.connect();
      return;
    }
    this.failures++;
    this.state = 'backoff';
    const base = Math.min(
      this.config.reconnectMaxMs,
      this.config.reconnectMinMs * 2 ** (this.failures - 1),
    );
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    this.logger.warn({ failures: this.failures, retryInMs: delay }, 'smpp bind failed');
    for (const w of this.boundWaiters.splice(0)) w();
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    this.reconnectTimer.unref();
  }

  private startEnquireLink(session: SmppSession): void {
    clearInterval(this.enquireTimer);
    this.enquireTimer = setInterval(() => {
      if (this.session !== session || this.state !== 'bound') return;
      const deadline = setTimeout(
        () => {
          this.logger.warn({}, 'smpp enquire_link unanswered, dropping session');
          session.destroy();
        },
        Math.min(10_000, this.config.enquireLinkMs),
      );
      deadline.unref();
      session.enquire_link({}, () => clearTimeout(deadline));
    }, this.config.enquireLinkMs);
    this.enquireTimer.unref();
  }

  /**
   * PDUs written in this turn of the event loop (the submits of concurrent messages, the
   * answers to a burst of receipts) leave in one write instead of one write each.
   */
  private corkUntilNextTick(session: SmppSession): void {
    const socket = session.socket;
    if (this.corked === socket) return;
    this.corked = socket;
    socket.cork();
    process.nextTick(() => {
      if (this.corked === socket) this.corked = undefined;
      socket.uncork();
    });
  }

  private pump(): void {
    const session = this.session;
    if (session && this.state === 'bound' && this.queue.length) this.corkUntilNextTick(session);
    while (
      this.state === 'bound' &&
      session &&
      this.outstanding.size < this.config.window &&
      this.queue.length
    ) {
      const entry = this.queue.shift()!;
      if (entry.group.settled) continue;
      entry.sentOn = session;
      this.outstanding.add(entry);
      const written = session.submit_sm(entry.params, (resp) =>
        this.onSubmitResp(entry, session, resp),
      );
      if (!written) {
        // The socket is going away: its close handler puts this entry back in the queue.
        break;
      }
      entry.timer = setTimeout(
        () => this.onResponseTimeout(entry, session),
        this.config.responseTimeoutMs,
      );
      entry.timer.unref();
    }
  }

  private onResponseTimeout(entry: Entry, session: SmppSession): void {
    if (!this.outstanding.has(entry) || entry.sentOn !== session) return;
    // Its window slot is freed; an answer that still comes on this session is handled.
    this.outstanding.delete(entry);
    this.giveUp(
      entry.group,
      CarrierError.timeout(
        this.id,
        `${this.id}: no submit_sm_resp within ${this.config.responseTimeoutMs} ms`,
      ),
    );
    this.pump();
  }

  private onSubmitResp(entry: Entry, session: SmppSession, resp: SmppPdu): void {
    if (entry.sentOn !== session || entry.answered) return;
    entry.answered = true;
    this.outstanding.delete(entry);
    clearTimeout(entry.timer);
    const group = entry.group;
    if (group.givenUp) {
      if (resp.command_status === 0) this.withdraw(group, messageIdOf(resp));
      this.pump();
      return;
    }
    if (resp.command_status !== 0) {
      const error = carrierErrorOfStatus(this.id, resp.command_status);
      this.logger.info(
        { messageId: group.messageId, status: error.providerCode, kind: error.kind },
        'smpp submit refused',
      );
      this.giveUp(group, error, 'refused');
    } else {
      const id = messageIdOf(resp);
      group.ids[entry.index] = id;
      group.remaining--;
      this.trackSegment(group, entry.index, id);
      if (group.remaining === 0 && !group.settled) {
        const ids = group.ids as string[];
        this.settle(group, () =>
          group.resolve({
            carrierId: this.id,
            providerMessageId: ids[0]!,
            acceptedAt: new Date(),
            segments: ids.length,
          }),
        );
        const t = group.receipts;
        if (t) {
          t.providerMessageId = ids[0]!;
          this.reportIfComplete(t);
        }
      }
    }
    this.pump();
  }

  /**
   * A segment taken: its receipt is the message's from now on (not only once every segment was
   * taken), and one that came ahead of this answer is counted.
   */
  private trackSegment(group: Group, index: number, id: string): void {
    if (!this.config.registeredDelivery) return;
    group.receipts ??= {
      messageId: group.messageId,
      segments: group.ids.map(() => undefined),
      spare: new Map(),
      status: 'delivered',
    };
    const t = group.receipts;
    t.segments[index] = { id, done: false };
    // No id (an empty message_id): no receipt can name it, and it must not catch others'.
    if (!id) return;
    this.tracking.set(id, t);
    while (this.tracking.size > TRACKING_LIMIT)
      this.tracking.delete(this.tracking.keys().next().value as string);
    const spare = t.spare.get(id)?.shift();
    if (spare) this.onTrackedReceipt(t, id, spare);
    const held = this.early.get(id);
    if (held) {
      clearTimeout(held.timer);
      this.early.delete(id);
      for (const parsed of held.receipts) this.onTrackedReceipt(t, id, parsed);
    }
  }

  /** A final receipt for an id not (yet) named by an answer: held a moment if answers are due. */
  private holdEarly(parsed: ParsedReceipt): void {
    const already = this.early.get(parsed.id);
    if (already) {
      // Another segment's receipt under the same id, or a copy: kept (bounded) for the answer.
      if (already.receipts.length < this.config.maxSegments) already.receipts.push(parsed);
      return;
    }
    const timer = setTimeout(
      () => {
        const held = this.early.get(parsed.id);
        this.early.delete(parsed.id);
        if (held) this.emitHeld(held);
      },
      Math.min(EARLY_HOLD_MS, this.config.responseTimeoutMs),
    );
    timer.unref();
    this.early.set(parsed.id, { receipts: [parsed], timer });
    while (this.early.size > EARLY_LIMIT) {
      const [oldest, held] = this.early.entries().next().value as [string, HeldReceipts];
      clearTimeout(held.timer);
      this.early.delete(oldest);
      this.emitHeld(held);
    }
  }

  /** Held receipts no answer claimed: reported as they are, once per id (the rest are copies). */
  private emitHeld(held: HeldReceipts): void {
    const first = held.receipts[0];
    if (first) this.emitUntracked(first);
  }

  /** Not ours in memory (another replica sent it, or we restarted): reported as it is. */
  private emitUntracked(parsed: ParsedReceipt): void {
    this.emit({
      providerMessageId: parsed.id,
      status: parsed.status,
      final: parsed.final,
      errorCode: parsed.errorCode,
    });
  }

  private onTrackedReceipt(t: ReceiptTracking, id: string, parsed: ParsedReceipt): void {
    if (!parsed.final) {
      if (t.providerMessageId)
        this.emit({
          providerMessageId: t.providerMessageId,
          messageId: t.messageId,
          status: parsed.status,
          final: false,
        });
      return;
    }
    // The first segment taken under this id whose receipt is not in yet. A centre may send a
    // segment's receipt again (its deliver_sm_resp seemed lost): with every segment's receipt of
    // this id in, the copy is not counted, nor reported for the whole message — unless segments
    // are still to be answered (one id for all: it may be theirs).
    const segment = t.segments.find((s) => s?.id === id && !s.done);
    if (!segment) {
      if (t.segments.includes(undefined)) {
        const spare = t.spare.get(id) ?? [];
        if (spare.length < t.segments.length) spare.push(parsed);
        t.spare.set(id, spare);
      }
      return;
    }
    segment.done = true;
    if (SEVERITY[parsed.status] > SEVERITY[t.status]) {
      t.status = parsed.status;
      t.errorCode = parsed.errorCode;
    }
    this.reportIfComplete(t);
  }

  /** Every segment taken and every segment's receipt in: the message's receipt, worst wins. */
  private reportIfComplete(t: ReceiptTracking): void {
    if (!t.providerMessageId || !t.segments.every((s) => s?.done)) return;
    for (const s of t.segments) if (s) this.tracking.delete(s.id);
    this.emit({
      providerMessageId: t.providerMessageId,
      messageId: t.messageId,
      status: t.status,
      final: true,
      errorCode: t.errorCode,
    });
  }

  private onDeliverSm(session: SmppSession, pdu: SmppPdu): void {
    this.corkUntilNextTick(session);
    session.send(pdu.response());
    const sm = pdu['short_message'] as { message?: unknown } | Buffer | string | undefined;
    const inner = sm && !Buffer.isBuffer(sm) && typeof sm === 'object' ? sm.message : undefined;
    const text =
      typeof sm === 'string'
        ? sm
        : Buffer.isBuffer(sm)
          ? sm.toString('latin1')
          : typeof inner === 'string'
            ? inner
            : Buffer.isBuffer(inner)
              ? inner.toString('latin1')
              : '';
    const parsed = parseDeliveryReceipt({
      esmClass: Number(pdu['esm_class'] ?? 0),
      shortMessage: text,
      receiptedMessageId:
        typeof pdu['receipted_message_id'] === 'string' ? pdu['receipted_message_id'] : undefined,
      messageState: typeof pdu['message_state'] === 'number' ? pdu['message_state'] : undefined,
    });
    if (!parsed) return;
    const t = this.tracking.get(parsed.id);
    if (t) return this.onTrackedReceipt(t, parsed.id, parsed);
    // An id no answer named yet: perhaps one still on its way (a centre can send a receipt ahead
    // of the answer), so a final receipt is held a moment while answers are due.
    if (parsed.final && this.outstanding.size > 0) return this.holdEarly(parsed);
    this.emitUntracked(parsed);
  }

  private emit(r: Omit<CarrierReceipt, 'carrierId' | 'at'>): void {
    const receipt: CarrierReceipt = { carrierId: this.id, at: new Date(), ...r };
    if (receipt.errorCode === undefined) delete receipt.errorCode;
    if (receipt.messageId === undefined) delete receipt.messageId;
    this.logger.debug({ messageId: receipt.messageId, status: receipt.status }, 'smpp receipt');
    for (const listener of this.listeners) {
      try {
        listener(receipt);
      } catch (err) {
        this.logger.error({ err: (err as Error).message }, 'receipt listener failed');
      }
    }
  }
}
