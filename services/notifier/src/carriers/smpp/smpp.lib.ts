import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

/** The parts of the untyped `smpp` package (node-smpp 0.5, ESME side) the carrier uses. */
export interface SmppPdu {
  command: string;
  command_id: number;
  command_status: number;
  sequence_number: number;
  [param: string]: unknown;
  isResponse(): boolean;
  response(options?: Record<string, unknown>): SmppPdu;
}

type Call = (params: Record<string, unknown>, onResponse?: (resp: SmppPdu) => void) => boolean;

export interface SmppSession extends EventEmitter {
  socket: Socket;
  send(
    pdu: SmppPdu,
    onResponse?: (resp: SmppPdu) => void,
    onSent?: (pdu: SmppPdu) => void,
  ): boolean;
  close(callback?: () => void): void;
  destroy(callback?: () => void): void;
  bind_transceiver: Call;
  submit_sm: Call;
  cancel_sm: Call;
  enquire_link: Call;
  unbind: Call;
}

export interface SmppModule {
  connect(options: { host: string; port: number }, listener?: () => void): SmppSession;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const smppLib = require('smpp') as SmppModule;
