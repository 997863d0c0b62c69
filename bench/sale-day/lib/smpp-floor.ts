/**
 * The carrier-side floor: how fast the simulator accepts raw SMPP submit_sm on one bound session
 * (window of outstanding submits), with no platform in front, measured in the same run on the
 * same machine. Uses the simulator's `smpp-c` account, which the notifier does not use.
 */
import { preciseNow, summarize, type Summary } from './stats';

// smpp ships no types; this is the part of its API used here.
interface SmppSession {
  bind_transceiver(p: Record<string, unknown>, cb: (pdu: { command_status: number }) => void): void;
  submit_sm(p: Record<string, unknown>, cb: (pdu: { command_status: number }) => void): void;
  send(pdu: unknown): void;
  on(event: string, cb: (...args: unknown[]) => void): void;
  close(): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const smpp = require('smpp') as {
  connect(o: { host: string; port: number }, cb: () => void): SmppSession;
};

export interface SmppFloor {
  submitted: number;
  perSecond: number;
  /** submit_sm → submit_sm_resp, ms. */
  latency: Summary;
}

export async function measureSmppFloor(
  port: number,
  options: { count?: number; window?: number; systemId?: string; password?: string } = {},
): Promise<SmppFloor> {
  const count = options.count ?? 5_000;
  const window = options.window ?? 64;
  const session = await new Promise<SmppSession>((resolve, reject) => {
    const s = smpp.connect({ host: '127.0.0.1', port }, () =>
      s.bind_transceiver(
        { system_id: options.systemId ?? 'smpp-c', password: options.password ?? 'sim-c' },
        (pdu) => (pdu.command_status === 0 ? resolve(s) : reject(new Error('smpp floor: bind refused'))),
      ),
    );
    s.on('error', (e) => reject(e instanceof Error ? e : new Error(String(e))));
    s.on('deliver_sm', (...args: unknown[]) => {
      s.send((args[0] as { response(): unknown }).response());
    });
  });
  const latencies: number[] = [];
  let next = 0;
  const started = preciseNow();
  await new Promise<void>((resolve) => {
    let done = 0;
    const submit = () => {
      if (next >= count) return;
      const i = next++;
      const at = preciseNow();
      session.submit_sm(
        {
          destination_addr: `1900${String(5_000_000 + i).padStart(7, '0')}`,
          dest_addr_ton: 1,
          dest_addr_npi: 1,
          source_addr: 'Floor',
          short_message: `Your code is ${String(100_000 + i).slice(-6)}\n\n@localhost #${String(100_000 + i).slice(-6)}`,
          registered_delivery: 0,
        },
        () => {
          latencies.push(preciseNow() - at);
          if (++done === count) resolve();
          else submit();
        },
      );
    };
    for (let i = 0; i < window; i++) submit();
  });
  const seconds = (preciseNow() - started) / 1000;
  session.close();
  return { submitted: count, perSecond: count / seconds, latency: summarize(latencies) };
}
