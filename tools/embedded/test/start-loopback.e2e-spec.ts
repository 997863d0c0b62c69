/**
 * `npm start`'s embedded mode answers on this machine only: its dev inbox shows
 * every code sent and its key `dev` holds every scope, so its one origin must
 * not be reachable from the network unless EMBEDDED_HOST says so.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@phonegate/stack';

jest.setTimeout(180_000);

const ROOT = join(__dirname, '../../..');

const reachable = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });

describe('npm start without infrastructure, seen from the network', () => {
  let child: ChildProcess;
  let output = '';

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('listens on loopback only', async () => {
    // The machine's own address on a network (this test needs one, as any machine running it has).
    const lan = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && !a.internal && a.family === 'IPv4')?.address;
    expect(lan).toBeDefined();

    const port = await freePort();
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'], PORT: String(port), LOG_LEVEL: 'warn' };
    child = spawn(process.execPath, [join(ROOT, 'scripts/start.mjs')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}: ${output.slice(-2000)}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1_000) });
        if (res.ok) break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`embedded mode not up: ${output.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }

    expect({ loopback: await reachable('127.0.0.1', port), network: await reachable(lan!, port) }).toEqual({ loopback: true, network: false });
  });
});
