import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '@phonegate/platform/testing';

const ROOT = join(__dirname, '../../../..');
/** BENCH_NOTIFIER_MAIN: another build of the notifier (a bench comparing against an older commit). */
export const NOTIFIER_MAIN =
  process.env['BENCH_NOTIFIER_MAIN'] ?? join(ROOT, 'services/notifier/dist/main.js');

/** The notifier as a real process (`node services/notifier/dist/main.js`, built by `npm run build`). */
export class NotifierProcess {
  private child: ChildProcess | undefined;
  /** Every line the process wrote (stdout and stderr), across restarts. */
  readonly lines: string[] = [];
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly env: Record<string, string>,
    readonly port: number,
  ) {
    if (!existsSync(NOTIFIER_MAIN))
      throw new Error(`${NOTIFIER_MAIN} is missing: run npm run build first`);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    // BENCH_NOTIFIER_NODE_ARGS: extra node flags for the notifier (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
    const extra = (process.env['BENCH_NOTIFIER_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, ['--enable-source-maps', ...extra, NOTIFIER_MAIN], {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        TZ: 'UTC',
        ...this.env,
        PORT: String(this.port),
        HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let partial = '';
    const collect = (chunk: Buffer) => {
      const text = partial + chunk.toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) if (line) this.lines.push(line);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await eventually(
      async () => {
        if (child.exitCode !== null)
          throw new Error(
            `notifier exited with ${child.exitCode}: ${this.lines.slice(-5).join(' | ')}`,
          );
        const res = await fetch(`${this.url}/health/ready`).catch(() => undefined);
        return res?.status === 200;
      },
      timeoutMs,
      100,
    );
  }

  /** SIGKILL: no drain, no acks, no goodbye. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(timer);
  }

  text(): string {
    return this.lines.join('\n');
  }
}
