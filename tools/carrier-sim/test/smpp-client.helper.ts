import { smpp, type SmppPdu, type SmppSession } from '../src/smpp/smpp.lib';

/** A bare node-smpp client for the simulator's own tests. */
export async function connectSmpp(port: number): Promise<SmppSession & { pdus: SmppPdu[] }> {
  const session = smpp.connect({ host: '127.0.0.1', port }) as SmppSession & { pdus: SmppPdu[] };
  session.pdus = [];
  session.on('error', () => undefined);
  session.on('pdu', (pdu: SmppPdu) => session.pdus.push(pdu));
  await new Promise<void>((resolve) => session.on('connect', () => resolve()));
  return session;
}

export function call(
  session: SmppSession,
  command: 'bind_transceiver' | 'submit_sm' | 'cancel_sm' | 'enquire_link' | 'unbind',
  params: Record<string, unknown> = {},
): Promise<SmppPdu> {
  return new Promise((resolve, reject) => {
    const ok = session[command](params, (resp) => resolve(resp));
    if (!ok) reject(new Error('session not writable'));
  });
}

export function nextPdu(session: SmppSession, command: string, timeoutMs = 3000): Promise<SmppPdu> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${command} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    session.once(command, (pdu: SmppPdu) => {
      clearTimeout(timer);
      resolve(pdu);
    });
  });
}

export function closed(session: SmppSession, timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (session.socket.destroyed) return resolve();
    const timer = setTimeout(() => reject(new Error('session still open')), timeoutMs);
    session.socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
