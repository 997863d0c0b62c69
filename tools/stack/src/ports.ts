import { randomInt } from 'node:crypto';
import net from 'node:net';

/**
 * Ports handed out here come from below Linux's default ephemeral range (32768–60999): a port the
 * OS picks for `listen(0)` or an outgoing connection is taken from that range, so a port chosen
 * here and bound only later (a process that boots for seconds first) is not grabbed in between
 * by another test's listener or connection, as an OS-picked one was (EADDRINUSE in CI).
 */
const LOW = 20_000;
const HIGH = 32_000;

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/**
 * Ports this process has handed out and that may not be bound yet (a stack picks all its ports
 * first, then starts its processes): never handed out twice. The OS, picking for `listen(0)`,
 * avoided that by cycling through its range; random picks must remember.
 */
const handedOut = new Set<number>();

/** A free TCP port (bound and released on every interface and on loopback; fine for local runs and tests). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = randomInt(LOW, HIGH);
    if (handedOut.has(port)) continue;
    if ((await bindable(port, '0.0.0.0')) && (await bindable(port, '127.0.0.1'))) {
      handedOut.add(port);
      return port;
    }
  }
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
