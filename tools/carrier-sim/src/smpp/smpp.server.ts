import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { CarrierRegistry, SimCarrierState } from '../carrier.registry';
import { providerId } from '../ids';
import type { MessageStore } from '../message.store';
import type { SimMessage, SimReceiptStatus } from '../sim.types';
import type { TimerSet } from '../timers';
import { formatDeliveryReceipt, RECEIPT_MESSAGE_STATE } from './delivery-receipt';
import { SMPP_STATUS, smpp, type SmppPdu, type SmppSession } from './smpp.lib';

type BindMode = 'transceiver' | 'transmitter' | 'receiver';

interface Connection {
  session: SmppSession;
  carrier?: string;
  mode?: BindMode;
  closed: boolean;
}

interface Part {
  seq: number;
  text: string;
  id: string;
}

interface PendingConcat {
  parts: Map<number, Part>;
  total: number;
  receivedAt: number;
  dataCoding: number;
}

interface PendingReceipt {
  record: SimMessage;
  segmentId: string;
  status: SimReceiptStatus;
  source: string;
  dest: string;
  submittedAt: Date;
  text: string;
  /** An intermediate receipt (the knob `interimReceipt`): the record's status stays as it is. */
  interim?: { stat: string; messageState?: number };
}

export interface SmppSimServer {
  readonly port: number;
  /** Destroys every session bound for the carrier; returns how many. */
  dropSessions(carrier: string): number;
  /** Open bound sessions, for one carrier or all. */
  sessionCount(carrier?: string): number;
  stop(): Promise<void>;
}

export interface SmppServerDeps {
  registry: CarrierRegistry;
  store: MessageStore;
  timers: TimerSet;
  host: string;
  port: number;
  logger: Logger;
}

/** Wall-clock epoch milliseconds with sub-millisecond fraction. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/** SMPP 3.4 server (MC side) for every simulated carrier with `protocol: 'smpp'`, told apart by system_id. */
export async function startSmppServer(deps: SmppServerDeps): Promise<SmppSimServer> {
  const { registry, store, timers, logger } = deps;
  const connections = new Set<Connection>();
  const concat = new Map<string, PendingConcat>();
  const pendingReceipts = new Map<string, PendingReceipt[]>();
  /** The knob `sameSegmentIds`: a concatenated message's id, by its reassembly key. */
  const sharedIds = new Map<string, string>();
  /** Segment message_id → its message's record (cancel_sm may name any segment). */
  const bySegment = new Map<string, SimMessage>();

  const server = smpp.createServer({}, (session) => {
    const conn: Connection = { session, closed: false };
    connections.add(conn);
    session.on('error', (err: Error) => logger.debug({ err: err.message }, 'smpp session error'));
    session.on('close', () => {
      conn.closed = true;
      connections.delete(conn);
    });

    const onBind = (mode: BindMode) => (pdu: SmppPdu) => {
      if (conn.carrier) {
        session.send(pdu.response({ command_status: SMPP_STATUS.ALREADY_BOUND }));
        return;
      }
      const state = registry.smppBySystemId(text(pdu['system_id']));
      const refuse = (status: number): void => {
        session.send(pdu.response({ command_status: status }), () => session.close());
      };
      if (!state) return refuse(SMPP_STATUS.INVALID_SYSTEM_ID);
      if (state.definition.password !== text(pdu['password']))
        return refuse(SMPP_STATUS.INVALID_PASSWORD);
      if (state.behaviour.down) {
        state.stats.refused++;
        return refuse(SMPP_STATUS.BIND_FAILED);
      }
      conn.carrier = state.definition.name;
      conn.mode = mode;
      session.send(pdu.response({ system_id: 'phonegate-sim' }));
      logger.debug({ carrier: conn.carrier, mode }, 'smpp bound');
      if (mode !== 'transmitter') flushReceipts(state.definition.name);
    };
    session.on('bind_transceiver', onBind('transceiver'));
    session.on('bind_transmitter', onBind('transmitter'));
    session.on('bind_receiver', onBind('receiver'));
    session.on('enquire_link', (pdu: SmppPdu) => session.send(pdu.response()));
    session.on('unbind', (pdu: SmppPdu) => {
      session.send(pdu.response(), () => session.close());
    });
    session.on('unknown', (pdu: SmppPdu) => session.send(pdu.response()));
    session.on('cancel_sm', (pdu: SmppPdu) => onCancel(conn, pdu));
    session.on('submit_sm', (pdu: SmppPdu) => {
      void onSubmit(conn, pdu).catch((err: Error) =>
        logger.warn({ err: err.message }, 'smpp submit failed'),
      );
    });
  });

  async function onSubmit(conn: Connection, pdu: SmppPdu): Promise<void> {
    const receivedAt = preciseNow();
    const state = conn.carrier ? registry.get(conn.carrier) : undefined;
    if (!state || conn.mode === 'receiver') {
      conn.session.send(pdu.response({ command_status: SMPP_STATUS.INVALID_BIND_STATUS }));
      return;
    }
    const to = normalizeAddress(text(pdu['destination_addr']), Number(pdu['dest_addr_ton'] ?? 0));
    const from = normalizeAddress(text(pdu['source_addr']), Number(pdu['source_addr_ton'] ?? 0));
    await timers.sleep(state.behaviour.latencyMs);
    // A session dropped before the answer: the submit was never acknowledged, so it is not
    // recorded either; the client must resend it after rebinding.
    if (conn.closed || timers.isStopped) return;
    const decision = refusedSegment(state, pdu) ?? registry.decide(state, to);
    const status =
      decision === 'accept'
        ? SMPP_STATUS.OK
        : decision === 'invalid'
          ? SMPP_STATUS.INVALID_DEST_ADDR
          : decision === 'throttled'
            ? SMPP_STATUS.THROTTLED
            : SMPP_STATUS.SYSTEM_ERROR;
    if (status !== SMPP_STATUS.OK) {
      conn.session.send(pdu.response({ command_status: status }));
      if (decision === 'down') conn.session.destroy();
      return;
    }
    const id = segmentId(state, pdu, to, from);
    const early = state.behaviour.receiptBeforeResponse && registeredDelivery(pdu);
    if (early) receiptBeforeResponse(conn, state, pdu, { id, to, from, receivedAt });
    if (!conn.session.send(pdu.response({ message_id: id }))) return;
    onAccepted(conn, state, pdu, { id, to, from, receivedAt }, early);
  }

  /** A new id for this submit, or (knob `sameSegmentIds`) its concatenated message's one. */
  function segmentId(state: SimCarrierState, pdu: SmppPdu, to: string, from: string): string {
    const ref = extractText(pdu).concatRef;
    if (!state.behaviour.sameSegmentIds || !ref || ref.total <= 1) return providerId('', 8);
    const key = `${state.definition.name}|${from}|${to}|${ref.ref}|${ref.total}`;
    const id = sharedIds.get(key) ?? providerId('', 8);
    sharedIds.set(key, id);
    if (sharedIds.size > 10_000) sharedIds.delete(sharedIds.keys().next().value as string);
    return id;
  }

  /**
   * cancel_sm (SMPP 3.4 §4.9): withdraws a message the MC accepted but has not delivered yet
   * (here: no receipt sent yet). `0x0C` for an id this carrier never gave, `0x11` when it is too
   * late (delivered, failed or already cancelled).
   */
  function onCancel(conn: Connection, pdu: SmppPdu): void {
    const state = conn.carrier ? registry.get(conn.carrier) : undefined;
    if (!state || conn.mode === 'receiver') {
      conn.session.send(pdu.response({ command_status: SMPP_STATUS.INVALID_BIND_STATUS }));
      return;
    }
    const id = text(pdu['message_id']);
    const record = bySegment.get(id);
    const held = record ? undefined : heldSegment(state.definition.name, id);
    if (!held && (!record || record.carrier !== state.definition.name)) {
      conn.session.send(pdu.response({ command_status: SMPP_STATUS.INVALID_MESSAGE_ID }));
      return;
    }
    if ((record && record.status !== 'accepted') || !state.behaviour.cancellable) {
      conn.session.send(pdu.response({ command_status: SMPP_STATUS.CANCEL_FAILED }));
      return;
    }
    if (record) store.setStatus(record.id, 'cancelled');
    else if (held) {
      // A segment of a message whose other segments never all came: it is not reassembled.
      held.pending.parts.delete(held.seq);
      if (held.pending.parts.size === 0) concat.delete(held.key);
    }
    state.stats.cancelled++;
    conn.session.send(pdu.response());
  }

  /** A segment accepted while its message waits for its other segments, by its message_id. */
  function heldSegment(
    carrier: string,
    id: string,
  ): { key: string; pending: PendingConcat; seq: number } | undefined {
    for (const [key, pending] of concat) {
      if (!key.startsWith(`${carrier}|`)) continue;
      for (const part of pending.parts.values())
        if (part.id === id) return { key, pending, seq: part.seq };
    }
    return undefined;
  }

  /** The knob `receiptBeforeResponse`: this segment's final receipt, ahead of its submit_sm_resp. */
  function receiptBeforeResponse(
    conn: Connection,
    state: SimCarrierState,
    pdu: SmppPdu,
    m: { id: string; to: string; from: string; receivedAt: number },
  ): void {
    const { text, concatRef } = extractText(pdu);
    const seq = concatRef && concatRef.total > 1 ? concatRef.seq : 1;
    const segmentStatus = state.behaviour.segmentReceiptStatus;
    const receipt: PendingReceipt = {
      // Not a record yet (its other segments may still come): the store keeps its status as is.
      record: { id: m.id, status: 'accepted' } as SimMessage,
      segmentId: m.id,
      status:
        segmentStatus && segmentStatus.segment === seq
          ? segmentStatus.status
          : state.behaviour.receiptStatus,
      source: m.to,
      dest: m.from,
      submittedAt: new Date(m.receivedAt),
      text,
    };
    for (let copy = 0; copy < state.behaviour.receiptCopies; copy++)
      queueReceipt(state.definition.name, conn, receipt);
  }

  function onAccepted(
    conn: Connection,
    state: SimCarrierState,
    pdu: SmppPdu,
    m: { id: string; to: string; from: string; receivedAt: number },
    receiptsSent = false,
  ): void {
    const { text, concatRef } = extractText(pdu);
    const dataCoding = Number(pdu['data_coding'] ?? 0);
    const carrier = state.definition.name;
    let parts: Part[];
    let receivedAt = m.receivedAt;
    if (!concatRef || concatRef.total <= 1) {
      parts = [{ seq: 1, text, id: m.id }];
    } else {
      const key = `${carrier}|${m.from}|${m.to}|${concatRef.ref}|${concatRef.total}`;
      let pending = concat.get(key);
      if (!pending) {
        pending = {
          parts: new Map(),
          total: concatRef.total,
          receivedAt: m.receivedAt,
          dataCoding,
        };
        concat.set(key, pending);
        if (concat.size > 10_000) concat.delete(concat.keys().next().value as string);
      }
      pending.parts.set(concatRef.seq, { seq: concatRef.seq, text, id: m.id });
      if (pending.parts.size < pending.total) return;
      concat.delete(key);
      sharedIds.delete(key);
      receivedAt = pending.receivedAt;
      parts = [...pending.parts.values()].sort((a, b) => a.seq - b.seq);
    }
    const record = store.add({
      id: parts[0]!.id,
      channel: 'sms',
      to: m.to,
      from: m.from,
      body: parts.map((p) => p.text).join(''),
      status: 'accepted',
      carrier,
      protocol: 'smpp',
      createdAt: new Date().toISOString(),
      receivedAt,
      segments: parts.length,
      dataCoding,
      segmentIds: parts.map((p) => p.id),
    });
    for (const part of parts) bySegment.set(part.id, record);
    while (bySegment.size > 20_000) bySegment.delete(bySegment.keys().next().value as string);
    if (!registeredDelivery(pdu)) return;
    if (receiptsSent) {
      // Its receipts went ahead of the answers: the record takes the status they reported.
      const refused = state.behaviour.segmentReceiptStatus;
      const odd = refused && parts.some((p) => p.seq === refused.segment);
      store.setStatus(record.id, odd ? refused.status : state.behaviour.receiptStatus);
      return;
    }
    const receiptStatus = state.behaviour.receiptStatus;
    const segmentStatus = state.behaviour.segmentReceiptStatus;
    const copies = state.behaviour.receiptCopies;
    const receiptOf = (part: Part): PendingReceipt => ({
      record,
      segmentId: part.id,
      status:
        segmentStatus && segmentStatus.segment === part.seq ? segmentStatus.status : receiptStatus,
      source: m.to,
      dest: m.from,
      submittedAt: new Date(receivedAt),
      text: part.text,
    });
    const interim = state.behaviour.interimReceipt;
    if (interim)
      for (const part of parts) queueReceipt(carrier, conn, { ...receiptOf(part), interim });
    timers.after(state.behaviour.receiptDelayMs, () => {
      for (const part of parts)
        for (let copy = 0; copy < copies; copy++) queueReceipt(carrier, conn, receiptOf(part));
    });
  }

  function receivers(carrier: string, preferred?: Connection): Connection[] {
    const all = [...connections].filter(
      (c) => !c.closed && c.carrier === carrier && c.mode !== 'transmitter',
    );
    if (preferred && all.includes(preferred))
      return [preferred, ...all.filter((c) => c !== preferred)];
    return all;
  }

  function queueReceipt(
    carrier: string,
    origin: Connection | undefined,
    receipt: PendingReceipt,
  ): void {
    const target = receivers(carrier, origin)[0];
    if (!target) {
      // Like a real MC, keep the receipt until the ESME binds again.
      const queue = pendingReceipts.get(carrier) ?? [];
      queue.push(receipt);
      if (queue.length > 10_000) queue.shift();
      pendingReceipts.set(carrier, queue);
      return;
    }
    sendReceipt(carrier, target, receipt);
  }

  function flushReceipts(carrier: string): void {
    const queue = pendingReceipts.get(carrier);
    if (!queue?.length) return;
    pendingReceipts.delete(carrier);
    for (const receipt of queue) queueReceipt(carrier, undefined, receipt);
  }

  function sendReceipt(carrier: string, conn: Connection, r: PendingReceipt): void {
    // Withdrawn by cancel_sm: it never reached the handset.
    if (r.record.status === 'cancelled') return;
    const state = registry.get(carrier);
    const shortMessage = formatDeliveryReceipt({
      id: r.segmentId,
      status: r.status,
      submittedAt: r.submittedAt,
      doneAt: new Date(),
      text: r.text,
      ...(r.interim ? { stat: r.interim.stat } : {}),
    });
    const messageState = r.interim ? r.interim.messageState : RECEIPT_MESSAGE_STATE[r.status];
    conn.session.deliver_sm(
      {
        source_addr_ton: 1,
        source_addr_npi: 1,
        source_addr: r.source.replace(/^\+/, ''),
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: r.dest.replace(/^\+/, ''),
        esm_class: 0x04,
        data_coding: 0,
        short_message: Buffer.from(shortMessage, 'ascii'),
        receipted_message_id: r.segmentId,
        ...(messageState !== undefined ? { message_state: messageState } : {}),
      },
      (resp) => {
        if (resp.command_status === 0 && state) state.stats.receiptsSent++;
      },
    );
    if (!r.interim) store.setStatus(r.record.id, r.status);
  }

  function dropSessions(carrier: string): number {
    let dropped = 0;
    for (const conn of connections) {
      if (conn.carrier !== carrier || conn.closed) continue;
      conn.closed = true;
      conn.session.destroy();
      dropped++;
    }
    return dropped;
  }

  const onChanged = (name: string, behaviour: { down: boolean }): void => {
    if (behaviour.down) dropSessions(name);
  };
  registry.on('changed', onChanged);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.port, deps.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    dropSessions,
    sessionCount: (carrier) =>
      [...connections].filter(
        (c) => !c.closed && c.carrier !== undefined && (!carrier || c.carrier === carrier),
      ).length,
    stop: async () => {
      registry.off('changed', onChanged);
      for (const conn of connections) {
        conn.closed = true;
        conn.session.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A PDU string field (node-smpp reads C-octet strings as strings). */
function text(value: unknown): string {
  return typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('latin1') : '';
}

/** International (TON 1) numbers come without the plus; the store keeps E.164. */
export function normalizeAddress(addr: string, ton: number): string {
  if (addr.startsWith('+')) return addr;
  if (ton === 1 && /^\d+$/.test(addr)) return `+${addr}`;
  return addr;
}

interface ConcatRef {
  ref: number;
  total: number;
  seq: number;
}

/**
 * The text of one submit_sm (node-smpp has already decoded it by data_coding: 0 → GSM 03.38,
 * 8 → UCS-2) and its concatenation reference, from a UDH (IEI 0x00 or 0x08) or SAR TLVs.
 * Segments are decoded one by one, so a sender must not split an escape sequence or a
 * surrogate pair across segments (the notifier's encoder never does).
 */
/** The knob `refuseSegment`: how this submit is refused (and counted) when it is that segment. */
function refusedSegment(state: SimCarrierState, pdu: SmppPdu): 'invalid' | 'throttled' | undefined {
  const refuse = state.behaviour.refuseSegment;
  if (!refuse || extractText(pdu).concatRef?.seq !== refuse.segment) return undefined;
  state.stats[refuse.status]++;
  return refuse.status;
}

export function extractText(pdu: SmppPdu): { text: string; concatRef?: ConcatRef } {
  const decoded = (value: unknown): { message?: unknown; udh?: Buffer[] } => {
    if (Buffer.isBuffer(value) || typeof value === 'string') return { message: value };
    return value && typeof value === 'object' ? value : {};
  };
  const sm = decoded(pdu['short_message']);
  const payload = decoded(pdu['message_payload']);
  const raw = hasContent(sm.message) ? sm.message : payload.message;
  const text = typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString('latin1') : '';
  let concatRef: ConcatRef | undefined;
  for (const ie of [...(sm.udh ?? []), ...(payload.udh ?? [])]) {
    if (ie[0] === 0x00 && ie.length >= 5) concatRef = { ref: ie[2]!, total: ie[3]!, seq: ie[4]! };
    if (ie[0] === 0x08 && ie.length >= 6)
      concatRef = { ref: ie.readUInt16BE(2), total: ie[4]!, seq: ie[5]! };
  }
  if (!concatRef && typeof pdu['sar_total_segments'] === 'number') {
    concatRef = {
      ref: Number(pdu['sar_msg_ref_num'] ?? 0),
      total: Number(pdu['sar_total_segments']),
      seq: Number(pdu['sar_segment_seqnum'] ?? 1),
    };
  }
  return { text, concatRef };
}

function hasContent(value: unknown): boolean {
  return (typeof value === 'string' || Buffer.isBuffer(value)) && value.length > 0;
}

/** The submit asks for a delivery receipt (registered_delivery bits 0–1). */
function registeredDelivery(pdu: SmppPdu): boolean {
  return (Number(pdu['registered_delivery'] ?? 0) & 0x03) !== 0;
}
