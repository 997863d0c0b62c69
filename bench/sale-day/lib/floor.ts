/**
 * Starts the pipeline floor (lib/floor-server.ts) as a process beside a bench stack and drives
 * it like the platform: the same open-loop driver, destinations and tracker.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { BenchStack } from './bench-stack';
import { drive } from './driver';
import type { DestinationPool } from './numbers';
import type { PhaseResult } from './phase';
import { procStat } from './proc';
import { loadAverage } from './proc';
import type { SmsTracker } from './tracker';

const ROOT = join(__dirname, '..', '..', '..');

export interface PipelineFloor {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startPipelineFloor(bench: BenchStack): Promise<PipelineFloor> {
  const child: ChildProcess = spawn(
    process.execPath,
    [join(ROOT, 'bench', 'run-ts.js'), join(__dirname, 'floor-server.ts')],
    {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        PORT: '0',
        RABBITMQ_URL: bench.stack.amqpUrl,
        REDIS_URL: 'redis://127.0.0.1:6379',
        REDIS_KEY_PREFIX: `${bench.stack.redisPrefix}floor:`,
        SMPP_PORT: String(bench.stack.sim.smppPort),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /listening (\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`floor server exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** One rate step against the floor: codes to distinct destinations, tracked to the simulator. */
export async function runFloorPhase(
  floor: PipelineFloor,
  ctx: { tracker: SmsTracker; numbers: DestinationPool },
  options: { label: string; rate: number; durationMs: number; settleMs?: number },
): Promise<Pick<PhaseResult, 'label' | 'targetRate' | 'drive' | 'sms' | 'loadAverage'> & { cpuMsPerCode: number }> {
  const { tracker, numbers } = ctx;
  tracker.reset();
  const cpuBefore = procStat(floor.pid)?.cpuMs ?? 0;
  const result = await drive({
    baseUrl: floor.url,
    rate: options.rate,
    durationMs: options.durationMs,
    next: (sentAt) => {
      const to = numbers.next();
      const t = tracker.sent({ kind: 'floor', destination: to, requestedAt: sentAt });
      return {
        request: {
          method: 'POST',
          path: '/floor/codes',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ to }),
        },
        onAnswer: (a) =>
          a.status === 201
            ? tracker.accepted(t, Date.parse((a.body as { expiresAt: string }).expiresAt))
            : tracker.failed(t, a.status, 'floor'),
      };
    },
  });
  const load = loadAverage();
  const cpuAfter = procStat(floor.pid)?.cpuMs ?? cpuBefore;
  await tracker.settle(options.settleMs ?? 20_000);
  const sms = tracker.report();
  return {
    label: options.label,
    targetRate: options.rate,
    drive: result,
    sms,
    loadAverage: load,
    cpuMsPerCode: (cpuAfter - cpuBefore) / Math.max(1, sms.accepted),
  };
}
