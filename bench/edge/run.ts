/**
 * The cost of the services' HTTP edge: the same trivial POST route (validate a small JSON body,
 * answer 201 with a small JSON object) served several ways, each in its own process, measured
 * one after the other with autocannon, with the server's CPU per request:
 *
 * - `fastify`: a bare Fastify route (the floor);
 * - `nest`: a NestJS controller on the Fastify adapter, nothing of ours;
 * - `nest-als`: the same with an AsyncLocalStorage context entered per request;
 * - `nest-guard`: the same with our API-key guard (scopes) as the global guard;
 * - `platform-module`: the controller in a module importing `PlatformModule` (guard, problem
 *   filter, nestjs-pino, Terminus) on a plain NestFactory app;
 * - `platform-noidem`: `createServiceApp` (request context, HTTP metrics, access-log hook) without
 *   Redis, so without the Idempotency-Key hooks;
 * - `platform`: `createServiceApp` with Redis — what every service's routes pay before their
 *   use case runs.
 *
 *   node bench/run-ts.js bench/edge/run.ts
 *
 * Env: BENCH_DURATION (s per phase, default 8), BENCH_CONNECTIONS (32), BENCH_ROUNDS (3),
 * BENCH_EDGE_KINDS (comma list besides the floor; default nest,platform-module,platform-noidem,platform).
 * Run it on a quiet machine: the differences are tens of microseconds.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Promise<{
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
}>;

const DURATION = Number(process.env['BENCH_DURATION'] ?? 8);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const ALL_KINDS = [
  'fastify',
  'nest',
  'nest-als',
  'nest-guard',
  'platform-module',
  'platform-noidem',
  'platform',
] as const;
// The floor (bare Fastify) is always measured: every other figure is read against it.
const KINDS: Kind[] = [
  'fastify',
  ...(process.env['BENCH_EDGE_KINDS'] ?? 'nest,platform-module,platform-noidem,platform')
    .split(',')
    .filter((k): k is Kind => k !== 'fastify' && (ALL_KINDS as readonly string[]).includes(k)),
];
type Kind = (typeof ALL_KINDS)[number];

async function serve(kind: Kind): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [join(__dirname, '..', 'run-ts.js'), join(__dirname, 'server.ts'), kind],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } },
  );
  let text = '';
  child.stdout?.setEncoding('utf8');
  for await (const chunk of child.stdout as AsyncIterable<string>) {
    text += chunk;
    const m = /listening (\d+)/.exec(text);
    if (m) return { child, port: Number(m[1]) };
  }
  throw new Error(`${kind} server did not start`);
}

function cpuMs(pid: number): number {
  // utime + stime in clock ticks (100/s on Linux) from /proc.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const stat = (require('node:fs') as typeof import('node:fs')).readFileSync(
    `/proc/${pid}/stat`,
    'utf8',
  );
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function main(): Promise<void> {
  const servers = new Map<Kind, { child: ChildProcess; port: number }>();
  for (const kind of KINDS) servers.set(kind, await serve(kind));
  const body = JSON.stringify({ to: '+14155550123', channel: 'sms', purpose: 'custom' });
  const rows: string[] = [];
  const results = new Map<Kind, { rps: number[]; cpu: number[] }>();
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const kind of KINDS) {
        const { child, port } = servers.get(kind) as { child: ChildProcess; port: number };
        const before = cpuMs(child.pid as number);
        const r = await autocannon({
          url: `http://127.0.0.1:${port}/v1/things`,
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer bench-key' },
          body,
          connections: CONNECTIONS,
          duration: DURATION,
        });
        const total = r.requests.average * DURATION;
        const cpu = (cpuMs(child.pid as number) - before) / Math.max(1, total);
        const entry = results.get(kind) ?? { rps: [], cpu: [] };
        entry.rps.push(r.requests.average);
        entry.cpu.push(cpu);
        results.set(kind, entry);
        rows.push(
          `${round} ${kind.padEnd(9)} ${String(Math.round(r.requests.average)).padStart(7)}/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  non-2xx ${r.non2xx}  ${cpu.toFixed(3)} ms CPU`,
        );
      }
    }
  } finally {
    for (const { child } of servers.values()) child.kill('SIGTERM');
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
  process.stdout.write(
    `\nHTTP edge — ${CONNECTIONS} connections, ${DURATION} s a phase, ${ROUNDS} rounds\n`,
  );
  for (const row of rows) process.stdout.write(`${row}\n`);
  const floor = results.get('fastify') as { rps: number[]; cpu: number[] };
  process.stdout.write('\nmedian (floor: bare Fastify)\n');
  for (const kind of KINDS) {
    const r = results.get(kind) as { rps: number[]; cpu: number[] };
    process.stdout.write(
      `${kind.padEnd(9)} ${Math.round(median(r.rps))}/s (${(median(r.rps) / median(floor.rps)).toFixed(2)} of the floor), ${median(r.cpu).toFixed(3)} ms CPU a request (+${(median(r.cpu) - median(floor.cpu)).toFixed(3)})\n`,
    );
  }
  await once(process, 'beforeExit');
}

main().catch((error: unknown) => {
  process.stderr.write(`edge bench failed: ${String(error)}\n`);
  process.exit(1);
});
