/**
 * A Redis of the bench's own, as deployments run it (append-only file, fsync every second,
 * noeviction, no RDB snapshots: docker-compose.yml, docs/operations.md), in a temporary directory
 * on a free port: what a crash drill restarts. The machine's shared Redis on 6379 keeps nothing
 * on disk and other people's tests use it, so it is never restarted.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@phonegate/stack';
import { Redis } from 'ioredis';
import { sleep } from './stats';

export interface PrivateRedis {
  port: number;
  url: string;
  /** The data directory (appendonlydir inside). */
  dir: string;
  logFile: string;
  /** Pid of the running server, if any. */
  pid(): number | undefined;
  /** Starts the server on the same port and directory; resolves when it has loaded its data. */
  start(): Promise<void>;
  /** Sends a signal (SIGTERM: a clean shutdown, SIGKILL: a crash); resolves when the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Keys in the database (after a restart: what survived). */
  dbsize(): Promise<number>;
  /** Stops the server and removes its directory. */
  remove(): Promise<void>;
  /** The same, synchronously (for a process 'exit' handler). */
  removeSync(): void;
}

const ROOT = join(__dirname, '..', '..', '..');

export async function startPrivateRedis(options: { port?: number; logDir?: string } = {}): Promise<PrivateRedis> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'phonegate-crash-redis-'));
  const logDir = options.logDir ?? join(ROOT, 'artifacts', 'sale-day', 'crash');
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `redis-${port}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  const start = async () => {
    if (alive()) return;
    child = spawn(
      'redis-server',
      [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--save', '',
        '--appendonly', 'yes',
        '--appendfsync', 'everysec',
        '--dir', dir,
        '--maxmemory-policy', 'noeviction',
        '--daemonize', 'no',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (!alive()) throw new Error(`redis-server on ${port} exited during start; see ${logFile}`);
      // ioredis's ready check waits for `loading:0`, so this resolves once the AOF is loaded.
      const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.ping();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`redis-server on ${port} not ready in 20 s; see ${logFile}`);
        await sleep(50);
      } finally {
        probe.disconnect();
      }
    }
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const c = child;
    if (!c || !alive()) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill(signal);
    await exited;
  };

  await start();
  return {
    port,
    url,
    dir,
    logFile,
    pid: () => (alive() ? child?.pid : undefined),
    start,
    stop,
    async dbsize() {
      const r = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
      try {
        await r.connect();
        return await r.dbsize();
      } finally {
        r.disconnect();
      }
    },
    async remove() {
      await stop('SIGTERM');
      log.end();
      rmSync(dir, { recursive: true, force: true });
    },
    removeSync() {
      if (alive()) child?.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
