import { type ChildProcess, spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { eventually } from '@phonegate/platform/testing';
import { freePort } from './sim';

/**
 * A redis-server of the test's own on a free port (no persistence), so that a test can take
 * Redis away from a running notifier (`stop`) without touching the shared one.
 */
export class OwnRedisServer {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<OwnRedisServer> {
    const port = await freePort();
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    const server = new OwnRedisServer(child, port);
    await eventually(() => server.accepts(), 5_000, 25);
    return server;
  }

  /** Stops the server (SIGKILL: gone at once, as in a crash) and waits until the port is closed. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGKILL');
      await exited;
    }
    await eventually(async () => !(await this.accepts()), 5_000, 25);
  }

  private accepts(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port: this.port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  }
}
