/**
 * otp bench: verifications started per second and checks per second over
 * HTTP against the real stack (the otp service as its own process, PostgreSQL,
 * Redis, RabbitMQ), next to a floor measured in the same run: a bare Fastify
 * route doing one Redis write and one confirmed amqplib publish.
 *
 *   npm run build && node bench/run-ts.js bench/otp/run.ts
 *
 * Env: BENCH_DURATION (seconds per phase, default 10), BENCH_CONNECTIONS
 * (default 32), BENCH_ROUNDS (default 3), BENCH_OTP_NODE_ARGS (e.g.
 * `--cpu-prof --cpu-prof-dir=DIR` for the otp process; summary:
 * bench/otp/profile-summary.ts). Prints a table and the ratios; target ≥ 0.60
 * of the floor.
 *
 * BENCH_OTP_BASELINE=<path of another build's main.js> (e.g. an earlier commit's
 * services/otp/src compiled elsewhere in this tree) runs that build as a second
 * otp process and measures it in every round right after this one (start, then
 * check, each against both), so a change is compared under the same machine load.
 * BENCH_OTP_BASELINE=current runs this build as the baseline too, and
 * BENCH_OTP_BASELINE_ENV="NAME=value …" gives the baseline process extra environment
 * (a switch in the libraries compared on and off).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import {
  createTestDatabase,
  createTestVhost,
  dropRedisPrefix,
  redisPrefix,
} from '@phonegate/platform/testing';
import * as amqp from 'amqplib';
import { CodeReader, declareEventSink, type SentCode } from '../lib/event-sink';

// autocannon ships no types; this is the part of its API the bench uses.
interface CannonRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (req: CannonRequest) => CannonRequest | undefined;
}
interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
  '2xx': number;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (
  opts: Record<string, unknown>,
) => Promise<CannonResult>;

const ROOT = join(__dirname, '..', '..');
const DURATION = Number(process.env['BENCH_DURATION'] ?? 10);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const TARGET = 0.6;
const API_KEY = 'bench-storefront-key';

/** BENCH_OTP_BASELINE_ENV="A=1 B=2": extra environment for the baseline process only. */
function baselineEnv(): Record<string, string> {
  const pairs = (process.env['BENCH_OTP_BASELINE_ENV'] ?? '').split(' ').filter(Boolean);
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) throw new Error(`BENCH_OTP_BASELINE_ENV: "${pair}" is not NAME=value`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  return port;
}

function start(command: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, command, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr?.on('data', (d: Buffer) =>
    process.stderr.write(`[${command.at(-1)}] ${d.toString()}`),
  );
  return child;
}

async function waitReady(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not yet listening
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A random valid US number (exchange 200-999): no two adjacent in practice, so no pumping signal. */
function randomNumber(): string {
  return `+1415${randomInt(200, 1000)}${String(randomInt(0, 10_000)).padStart(4, '0')}`;
}

/** CPU time (user + system, ms) a process has used, from /proc (Linux; undefined elsewhere). */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10; // clock ticks of 10 ms
  } catch {
    return undefined;
  }
}

/** The shared servers' pids (Redis, RabbitMQ), when they run on this machine: their CPU is reported too. */
function sharedPids(): { redis?: number; rabbit?: number } {
  const first = (args: string[]): number | undefined => {
    try {
      const pid = Number(execFileSync('pgrep', args).toString().trim().split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const redis = first(['-x', 'redis-server']);
  const rabbit = first(['-x', 'beam.smp']);
  return { ...(redis ? { redis } : {}), ...(rabbit ? { rabbit } : {}) };
}
const SHARED = sharedPids();

interface Measured extends CannonResult {
  /** Server CPU per request (ms): the load-independent cost. */
  cpuPerRequest?: number;
  /** Redis's and RabbitMQ's CPU per request (ms), when they run here. */
  redisCpu?: number;
  rabbitCpu?: number;
}

/**
 * Requests a second over the phase's whole length (its end noticed within one 50 ms sample).
 * autocannon's `requests.average` is a mean of per-sample counts, and at its default 1 s
 * samples a phase of a fixed number of requests, as the checks are, was timed to the next
 * whole second: 2.1 s of checks counted as 3 s, a third too slow.
 */
function rate(r: CannonResult): number {
  return r.duration > 0 ? r.requests.total / r.duration : r.requests.average;
}

function row(name: string, r: Measured, floor?: Measured): string {
  const ratio = floor ? (rate(r) / rate(floor)).toFixed(2) : '1.00';
  return [
    name.padEnd(22),
    String(Math.round(rate(r))).padStart(8),
    `${r.latency.p50} ms`.padStart(9),
    `${r.latency.p99} ms`.padStart(9),
    String(r.non2xx + r.errors + r.timeouts).padStart(8),
    ratio.padStart(7),
    (r.cpuPerRequest === undefined ? '-' : `${r.cpuPerRequest.toFixed(2)} ms`).padStart(10),
    (r.redisCpu === undefined ? '-' : r.redisCpu.toFixed(2)).padStart(6),
    (r.rabbitCpu === undefined ? '-' : r.rabbitCpu.toFixed(2)).padStart(7),
  ].join(' ');
}

async function main(): Promise<void> {
  const runner = require.main?.filename ?? join(ROOT, 'bench', 'run-ts.js');
  const [db, vhost] = await Promise.all([
    createTestDatabase('pg_bench_otp'),
    createTestVhost('b_otp'),
  ]);
  const prefix = redisPrefix();
  const busKey = randomBytes(32);
  const children: ChildProcess[] = [];
  let broker: amqp.ChannelModel | undefined;
  try {
    // A sink (length-bounded) makes every event routable; a second queue collects the codes to check.
    broker = await amqp.connect(vhost.url);
    const ch = await broker.createChannel();
    await declareEventSink(ch, 'bench');
    const reader = new CodeReader(ch, 'bench.codes', busKey.toString('base64'));
    const codes: SentCode[] = [];
    // Codes are read (as the notifier would) only between phases, so the bench process stays out of the measured ones.
    const collectCodes = async (): Promise<void> => {
      codes.push(...(await reader.drain()));
    };

    const nodeArgs = (process.env['BENCH_OTP_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
    const baselineMain = process.env['BENCH_OTP_BASELINE'];
    const otpEnv = {
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      DATABASE_URL: db.url,
      REDIS_KEY_PREFIX: prefix,
      RABBITMQ_URL: vhost.url,
      API_KEYS: `${API_KEY}:storefront`,
      BUS_ENCRYPTION_KEYS: `b1:${busKey.toString('base64')}`,
      CODE_HMAC_KEYS: `c1:${randomBytes(32).toString('base64')}`,
      OTP_SECRET_KEYS: `s1:${randomBytes(32).toString('base64')}`,
      // The bench measures throughput, not the abuse limits: open them wide.
      OTP_LIMIT_COUNTRY: '1000000000/1m',
      OTP_COUNTRY_DAILY_CEILING: '1000000000',
      OTP_PUMP_RATIO_MIN_SENDS: '1000000000',
      OTP_EXPIRY_SWEEP_INTERVAL: '5s',
    };
    const otpPort = await freePort();
    const mainJs = join(ROOT, 'services', 'otp', 'dist', 'main.js');
    const otp = start([...nodeArgs, mainJs], {
      ...otpEnv,
      PORT: String(otpPort),
    });
    children.push(otp);
    const servers = new Map<number, ChildProcess>([[otpPort, otp]]);
    let basePort: number | undefined;
    if (baselineMain) {
      // After this one is ready (migrations run once), on the same database, Redis and vhost.
      await waitReady(`http://127.0.0.1:${otpPort}/health/ready`);
      basePort = await freePort();
      const base = start([baselineMain === 'current' ? mainJs : baselineMain], {
        ...otpEnv,
        ...baselineEnv(),
        PORT: String(basePort),
      });
      children.push(base);
      servers.set(basePort, base);
    }
    const floorPort = await freePort();
    const floor = start([runner, join(ROOT, 'bench', 'otp', 'floor-server.ts')], {
      PORT: String(floorPort),
      RABBITMQ_URL: vhost.url,
      REDIS_KEY_PREFIX: `${prefix}floor:`,
    });
    children.push(floor);
    await Promise.all([
      ...[...servers.keys()].map((port) => waitReady(`http://127.0.0.1:${port}/health/ready`)),
      waitReady(`http://127.0.0.1:${floorPort}/nope`).catch(() => undefined),
    ]);
    await new Promise((r) => setTimeout(r, 500));

    const headers = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };
    const startRequest: CannonRequest = {
      method: 'POST',
      path: '/v1/verifications',
      headers,
      setupRequest: (req) => ({
        ...req,
        body: JSON.stringify({ to: randomNumber(), channel: 'sms', purpose: 'phone_verification' }),
      }),
    };
    const cannon = async (
      url: string,
      requests: CannonRequest[],
      extra: Record<string, unknown> = {},
    ): Promise<Measured> => {
      const server = servers.get(Number(url.split(':').at(-1))) ?? floor;
      const before = cpuMs(server.pid);
      const [redisBefore, rabbitBefore] = [cpuMs(SHARED.redis), cpuMs(SHARED.rabbit)];
      const result: Measured = await autocannon({
        url,
        connections: CONNECTIONS,
        ...('amount' in extra ? {} : { duration: DURATION }),
        // autocannon notices the end of a phase only at its next sample: at the default 1 s a
        // phase of a fixed number of requests (the checks) was timed up to a second long.
        sampleInt: 50,
        requests,
        ...extra,
      });
      const after = cpuMs(server.pid);
      if (before !== undefined && after !== undefined && result.requests.total > 0)
        result.cpuPerRequest = (after - before) / result.requests.total;
      const [redisAfter, rabbitAfter] = [cpuMs(SHARED.redis), cpuMs(SHARED.rabbit)];
      if (result.requests.total > 0) {
        if (redisBefore !== undefined && redisAfter !== undefined)
          result.redisCpu = (redisAfter - redisBefore) / result.requests.total;
        if (rabbitBefore !== undefined && rabbitAfter !== undefined)
          result.rabbitCpu = (rabbitAfter - rabbitBefore) / result.requests.total;
      }
      return result;
    };

    // Warm up both (JIT, connection pools, Lua script cache).
    await cannon(
      `http://127.0.0.1:${floorPort}`,
      [{ method: 'POST', path: '/floor', headers, body: '{"x":1}' }],
      { duration: 2 },
    );
    for (const port of servers.keys())
      await cannon(`http://127.0.0.1:${port}`, [startRequest], { duration: 2 });
    await collectCodes();
    codes.length = 0;

    // Each round measures the floor, then starts, then checks of the codes just sent, back to
    // back, so the three see the same machine load; the verdict is on the median ratios.
    const checkRequests = (pending: { id: string; code: string }[]): CannonRequest[] => {
      let next = 0;
      return [
        {
          method: 'POST',
          path: '/v1/verifications/x/check',
          headers,
          setupRequest: (req) => {
            const pair = pending[next++ % pending.length] as { id: string; code: string };
            return {
              ...req,
              path: `/v1/verifications/${pair.id}/check`,
              body: JSON.stringify({ code: pair.code }),
            };
          },
        },
      ];
    };
    interface Round {
      floor: CannonResult;
      start: CannonResult;
      check: CannonResult;
      checked: number;
    }
    const rounds: Round[] = [];
    const baseRounds: Round[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const floorResult = await cannon(`http://127.0.0.1:${floorPort}`, [
        { method: 'POST', path: '/floor', headers, body: '{"to":"+14155550123"}' },
      ]);
      const startResult = await cannon(`http://127.0.0.1:${otpPort}`, [startRequest]);
      const baseStart =
        basePort === undefined
          ? undefined
          : await cannon(`http://127.0.0.1:${basePort}`, [startRequest]);
      // Every started verification's code, as the notifier would read it.
      const started = startResult['2xx'] + (baseStart?.['2xx'] ?? 0);
      const deadline = Date.now() + 30_000;
      while (codes.length < started && Date.now() < deadline) {
        await collectCodes();
        await new Promise((r) => setTimeout(r, 100));
      }
      const pending = codes.splice(0, codes.length);
      // With a baseline, each checks the same number of codes (either may check any challenge).
      const mine = baseStart ? pending.filter((_, i) => i % 2 === 0) : pending;
      const checkResult = await cannon(`http://127.0.0.1:${otpPort}`, checkRequests(mine), {
        amount: mine.length,
      });
      rounds.push({
        floor: floorResult,
        start: startResult,
        check: checkResult,
        checked: mine.length,
      });
      if (baseStart && basePort !== undefined) {
        const theirs = pending.filter((_, i) => i % 2 === 1);
        const baseCheck = await cannon(`http://127.0.0.1:${basePort}`, checkRequests(theirs), {
          amount: theirs.length,
        });
        baseRounds.push({
          floor: floorResult,
          start: baseStart,
          check: baseCheck,
          checked: theirs.length,
        });
      }
    }

    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
    const out = (line: string) => process.stdout.write(`${line}\n`);
    out(
      `\notp bench — ${CONNECTIONS} connections, ${DURATION} s per phase, ${ROUNDS} rounds, ${cpus().length} CPUs (shared)`,
    );
    out(
      [
        'round phase'.padEnd(22),
        'req/s'.padStart(8),
        'p50'.padStart(9),
        'p99'.padStart(9),
        'non-2xx'.padStart(8),
        'ratio'.padStart(7),
        'CPU/req'.padStart(10),
        'redis'.padStart(6),
        'rabbit'.padStart(7),
      ].join(' '),
    );
    rounds.forEach((r, i) => {
      const b = baseRounds[i];
      out(row(`${i + 1} floor (redis+pub)`, r.floor));
      out(row(`${i + 1} start verification`, r.start, r.floor));
      if (b) out(row(`${i + 1} start (baseline)`, b.start, r.floor));
      out(row(`${i + 1} check (right code)`, r.check, r.floor));
      if (b) out(row(`${i + 1} check (baseline)`, b.check, r.floor));
    });
    const startRatio = median(
      rounds.map((r) => rate(r.start) / rate(r.floor)),
    );
    const checkRatio = median(
      rounds.map((r) => rate(r.check) / rate(r.floor)),
    );
    out(
      `\nmedian: floor ${Math.round(median(rounds.map((r) => rate(r.floor))))}/s, ` +
        `starts ${Math.round(median(rounds.map((r) => rate(r.start))))}/s (ratio ${startRatio.toFixed(2)}), ` +
        `checks ${Math.round(median(rounds.map((r) => rate(r.check))))}/s (ratio ${checkRatio.toFixed(2)}); target ${TARGET.toFixed(2)}: ` +
        (startRatio >= TARGET && checkRatio >= TARGET ? 'met' : 'NOT met'),
    );
    const cpu = (pick: (r: Round) => Measured, of: Round[] = rounds) => {
      const values = of
        .map((r) => pick(r).cpuPerRequest)
        .filter((v): v is number => v !== undefined);
      return values.length ? median(values) : undefined;
    };
    const [floorCpu, startCpu, checkCpu] = [
      cpu((r) => r.floor),
      cpu((r) => r.start),
      cpu((r) => r.check),
    ];
    if (floorCpu && startCpu && checkCpu) {
      // On a shared machine req/s swings with the neighbours' load; CPU per request does not.
      out(
        `server CPU per request (median): floor ${floorCpu.toFixed(2)} ms, start ${startCpu.toFixed(2)} ms, check ${checkCpu.toFixed(2)} ms; ` +
          `CPU-bound ratios: start ${(floorCpu / startCpu).toFixed(2)}, check ${(floorCpu / checkCpu).toFixed(2)}`,
      );
    }
    if (baseRounds.length > 0) {
      const [baseStartCpu, baseCheckCpu] = [
        cpu((r) => r.start, baseRounds),
        cpu((r) => r.check, baseRounds),
      ];
      const ratio = (key: 'start' | 'check') =>
        median(
          baseRounds.map(
            (b, i) => rate(b[key]) / rate((rounds[i] as Round).floor),
          ),
        );
      if (baseStartCpu && baseCheckCpu && startCpu && checkCpu)
        out(
          `baseline (${baselineMain}): start ${baseStartCpu.toFixed(2)} ms, check ${baseCheckCpu.toFixed(2)} ms CPU per request; ` +
            `ratios ${ratio('start').toFixed(2)} / ${ratio('check').toFixed(2)}; this build uses ` +
            `${((100 * (startCpu - baseStartCpu)) / baseStartCpu).toFixed(0)} % / ${((100 * (checkCpu - baseCheckCpu)) / baseCheckCpu).toFixed(0)} % CPU of it per start / check`,
        );
    }
    const all = [...rounds, ...baseRounds];
    const approved = all.reduce((n, r) => n + r.check['2xx'], 0);
    const checked = all.reduce((n, r) => n + r.checked, 0);
    out(`every right code approved once: ${approved} of ${checked}`);
    process.exitCode = startRatio >= TARGET && checkRatio >= TARGET ? 0 : 1;
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.filter((c) => c.exitCode === null).map((c) => once(c, 'exit')));
    await broker?.close().catch(() => undefined);
    await Promise.all([db.drop(), vhost.drop(), dropRedisPrefix(prefix)]);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `otp bench failed: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exit(1);
});
