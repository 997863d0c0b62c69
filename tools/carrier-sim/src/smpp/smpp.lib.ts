import type { EventEmitter } from 'node:events';
import type { Server, Socket } from 'node:net';

/** The parts of the untyped `smpp` package (node-smpp 0.5) the simulator uses. */
export interface SmppPdu {
  command: string;
  command_id: number;
  command_status: number;
  sequence_number: number;
  [param: string]: unknown;
  isResponse(): boolean;
  response(options?: Record<string, unknown>): SmppPdu;
}

export interface SmppSession extends EventEmitter {
  socket: Socket;
  send(
    pdu: SmppPdu,
    onResponse?: (resp: SmppPdu) => void,
    onSent?: (pdu: SmppPdu) => void,
  ): boolean;
  close(callback?: () => void): void;
  destroy(callback?: () => void): void;
  deliver_sm(params: Record<string, unknown>, onResponse?: (resp: SmppPdu) => void): boolean;
  bind_transceiver(params: Record<string, unknown>, onResponse?: (resp: SmppPdu) => void): boolean;
  submit_sm(params: Record<string, unknown>, onResponse?: (resp: SmppPdu) => void): boolean;
  cancel_sm(params: Record<string, unknown>, onResponse?: (resp: SmppPdu) => void): boolean;
  enquire_link(params: Record<string, unknown>, onResponse?: (resp: SmppPdu) => void): boolean;
  unbind(params: Record<string, unknown>, onResponse?: (resp: SmppPdu) => void): boolean;
}

export interface SmppServer extends Server {
  sessions: SmppSession[];
}

export interface SmppModule {
  createServer(
    options: Record<string, unknown>,
    listener: (session: SmppSession) => void,
  ): SmppServer;
  connect(options: { host: string; port: number }, listener?: () => void): SmppSession;
  PDU: new (command: string, options?: Record<string, unknown>) => SmppPdu;
  errors: Record<string, number>;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const smpp = require('smpp') as SmppModule;

/** SMPP command_status values (WIRE VALUES, SMPP 3.4 §5.1.3). */
export const SMPP_STATUS = {
  OK: 0x00,
  INVALID_BIND_STATUS: 0x04,
  ALREADY_BOUND: 0x05,
  SYSTEM_ERROR: 0x08,
  INVALID_MESSAGE_ID: 0x0c,
  INVALID_DEST_ADDR: 0x0b,
  BIND_FAILED: 0x0d,
  INVALID_PASSWORD: 0x0e,
  INVALID_SYSTEM_ID: 0x0f,
  CANCEL_FAILED: 0x11,
  THROTTLED: 0x58,
} as const;
