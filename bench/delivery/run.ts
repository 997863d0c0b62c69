/**
 * Out-for-delivery requests and handoff confirmations per second, with p50/p99
 * latency and the delivery-otp process's CPU per request, next to a floor.
 *
 *   node bench/run-ts.js bench/delivery/run.ts
 *
 * Runs delivery-otp as its own process (services/delivery-otp/src/main.ts through the same runner) on
 * the real PostgreSQL, Redis and RabbitMQ (a throw-away database, vhost and
 * key prefix) and registers courier devices. After a warm-up (BENCH_WARMUP
 * shipments through both phases: JIT, pools, Lua script cache), the timed phases:
 *
 * 0. GET /health/live as often: the HTTP stack alone, the least any route costs;
 * 1. autocannon sends BENCH_SHIPMENTS shipments out for delivery (API key,
 *    PostgreSQL transaction with its advisory lock, code drawn, sealed and
 *    stored in Redis, SMS request and code_issued event in the outbox);
 * 2. each code is read as the customer's app would (not timed), then
 *    autocannon confirms every handoff once (device secret, Idempotency-Key,
 *    atomic Redis check, PostgreSQL record and outbox events).
 *
 * A phase ends when the outbox is empty (the relay published every event), so
 * its CPU (utime + stime from /proc/<pid>/stat, 10 ms ticks) includes the
 * relay's work. The floor is a bare Fastify route doing the same HMAC + Redis
 * EVAL as a handoff.
 *
 * Env: BENCH_SHIPMENTS (default 2000), BENCH_CONNECTIONS (default 32), BENCH_DEVICES (default 20),
 * BENCH_WARMUP (default 300), BENCH_PROFILE=<dir>: CPU-profile the service during each timed phase
 * (bench/delivery/profile-hook.js; 1-<pid> out for delivery, 2-<pid> handoff), then summarise with
 * `node bench/run-ts.js bench/sale-day/profile-summary.ts <dir>`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { createRedis, redisReady } from '@phonegate/platform';
import { createTestDatabase, createTestVhost, dropRedisPrefix, redisPrefix, TEST_INFRA } from '../../libs/platform/src/testing';
import { RedisCodeStore } from '../../services/delivery-otp/src/codes/redis-code.store';
import { activeDigest, drawCode, sealCode, sealContext } from '../../services/delivery-otp/src/handoff/handoff-code';

/** The part of autocannon's API this bench uses (the package ships no types). */
interface CannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}
interface CannonResult {
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  latency: { p50: number; p99: number };
}
type Autocannon = (
  options: { url: string; connections: number; amount: number; sampleInt?: number; requests: { setupRequest: (req: CannonRequest) => CannonRequest }[] },
  done: (error: Error | null, result: CannonResult) => void,
) => unknown;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as Autocannon;

const ROOT = join(__dirname, '../..');
const SHIPMENTS = Number(process.env['BENCH_SHIPMENTS'] ?? 2000);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
const DEVICES = Number(process.env['BENCH_DEVICES'] ?? 20);
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 300);
const PROFILE_DIR = process.env['BENCH_PROFILE'] ? resolve(process.env['BENCH_PROFILE']) : undefined;
const KEYS = { logistics: 'bench-logistics', storefront: 'bench-storefront', ops: 'bench-ops' };
const key32 = () => randomBytes(32).toString('base64');

interface Figures {
  label: string;
  ok: number;
  other: number;
  perSecond: number;
  p50: number;
  p99: number;
  seconds: number;
  /** CPU of the server process per request (ms), relay included; undefined if /proc is not readable. */
  cpuMsPerRequest?: number;
  /** The part of it in the kernel (system calls: sockets to PostgreSQL, Redis, RabbitMQ and the client). */
  systemCpuMsPerRequest?: number;
}

interface Job {
  id: string;
  device: { courierId: string; secret: string };
  code: string;
}

type BenchRequest = { method: 'GET' | 'POST'; path: string; headers: Record<string, string>; body?: string };

async function main(): Promise<void> {
  const db = await createTestDatabase('pg_bench_delivery');
  const vhost = await createTestVhost('bench');
  const prefix = redisPrefix();
  const floorPrefix = redisPrefix();
  const children: ChildProcess[] = [];
  const hmacKeys = `h1:${key32()}`;
  const pg = new Client({ connectionString: db.url });
  try {
    const port = await freePort();
    const service = spawnTs(
      [join(ROOT, 'services/delivery-otp/src/main.ts')],
      {
        PORT: String(port),
        LOG_LEVEL: 'warn',
        DATABASE_URL: db.url,
        RABBITMQ_URL: vhost.url,
        REDIS_URL: TEST_INFRA.redisUrl,
        REDIS_KEY_PREFIX: prefix,
        API_KEYS: `${KEYS.logistics}:logistics,${KEYS.storefront}:storefront,${KEYS.ops}:ops`,
        BUS_ENCRYPTION_KEYS: `b1:${key32()}`,
        DELIVERY_CODE_KEYS: `c1:${key32()}`,
        CODE_HMAC_KEYS: hmacKeys,
        ...(PROFILE_DIR ? { PROFILE_DIR } : {}),
      },
      PROFILE_DIR ? ['-r', join(__dirname, 'profile-hook.js')] : [],
    );
    children.push(service);
    const base = `http://127.0.0.1:${port}`;
    await waitReady(`${base}/health/ready`, service);
    await pg.connect();

    process.stdout.write(`preparing ${DEVICES} devices, warming up with ${WARMUP} shipments...\n`);
    const devices: { courierId: string; secret: string }[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const courierId = `cour_${i}`;
      const res = await call(base, 'POST', `/v1/couriers/${courierId}/devices`, KEYS.ops, {});
      devices.push({ courierId, secret: (res as { secret: string }).secret });
    }
    const window = { start: new Date(Date.now() - 3600_000).toISOString(), end: new Date(Date.now() + 3600_000).toISOString() };
    const jobsOf = (n: number, tag: string): Job[] => Array.from({ length: n }, (_, i) => ({ id: `${tag}_${i}`, device: devices[i % DEVICES]!, code: '' }));
    const outForDelivery = (job: Job): BenchRequest => ({
      method: 'POST',
      path: `/v1/shipments/${job.id}/out-for-delivery`,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS.logistics}` },
      body: JSON.stringify({
        orderId: `ord_${job.id}`,
        accountId: `acc_${job.id}`,
        contact: { phone: '+14155550123' },
        courierId: job.device.courierId,
        window,
      }),
    });
    const handoff = (job: Job): BenchRequest => ({
      method: 'POST',
      path: `/v1/shipments/${job.id}/handoff`,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${job.device.secret}`, 'idempotency-key': `bench-${job.id}` },
      body: JSON.stringify({ code: job.code, at: new Date().toISOString() }),
    });
    const readCodes = (jobs: Job[]) =>
      pool(jobs, 16, async (job) => {
        job.code = ((await call(base, 'GET', `/v1/shipments/${job.id}/code?accountId=acc_${job.id}`, KEYS.storefront)) as { code: string }).code;
      });
    const drained = () => outboxDrained(pg);
    const timed = async (label: string, jobs: Job[], request: (job: Job) => BenchRequest) => {
      const profiling = PROFILE_DIR !== undefined && service.pid !== undefined;
      if (profiling) process.kill(service.pid, 'SIGUSR2');
      const figures = await load(label, base, jobs, request, service, drained);
      if (profiling) process.kill(service.pid, 'SIGUSR2');
      return figures;
    };

    const warm = jobsOf(WARMUP, 'warm');
    await load('warm-up out for delivery', base, warm, outForDelivery, service, drained);
    await readCodes(warm);
    await load('warm-up handoff', base, warm, handoff, service, drained);

    const jobs = jobsOf(SHIPMENTS, 'shp');
    // The platform's HTTP stack alone (Nest on Fastify, request context, no auth, no I/O): what any route costs at least.
    const live$ = await load('delivery-otp GET /health/live (the HTTP stack alone)', base, jobs, () => ({ method: 'GET', path: '/health/live', headers: {} }), service);
    const issue$ = await timed('delivery-otp out for delivery (HTTP, auth, PostgreSQL tx + lock, seal, Redis Lua, outbox, relay)', jobs, outForDelivery);
    await readCodes(jobs);
    const service$ = await timed('delivery-otp handoff (HTTP, auth, idempotency, Redis Lua, PostgreSQL + outbox, relay)', jobs, handoff);
    const rows = await pg.query<{ n: number }>(`SELECT count(*)::int AS n FROM handoff_attempts WHERE outcome = 'confirmed' AND shipment_id LIKE 'shp%'`);
    if (rows.rows[0]?.n !== service$.ok) throw new Error(`recorded ${rows.rows[0]?.n} handoffs for ${service$.ok} answers of 200`);

    // The floor: the same keys, the same Lua check, a bare Fastify route.
    const redis = createRedis({ url: TEST_INFRA.redisUrl, keyPrefix: floorPrefix });
    await redisReady(redis);
    const store = new RedisCodeStore(redis);
    const hmac = { activeKeyId: 'h1', keys: new Map([['h1', Buffer.from(hmacKeys.slice(3), 'base64')]]) };
    const seal = { activeKeyId: 'c1', keys: new Map([['c1', randomBytes(32)]]) };
    await pool(jobs, 32, async (job) => {
      job.code = drawCode(6);
      const digest = activeDigest(hmac, job.id, job.code);
      await store.put({
        shipmentId: job.id,
        accountId: 'acc',
        courierId: job.device.courierId,
        windowStartMs: Date.parse(window.start),
        windowEndMs: Date.parse(window.end),
        expiresAtMs: Date.parse(window.end) + 1800_000,
        generation: 1,
        sealed: sealCode(seal, job.code, sealContext(job.id)),
        hmacKeyId: digest.kid,
        hmac: digest.digest,
      });
    });
    redis.disconnect();
    const floorPort = await freePort();
    const floor = spawnTs([join(__dirname, 'floor-server.ts')], {
      PORT: String(floorPort),
      REDIS_URL: TEST_INFRA.redisUrl,
      REDIS_KEY_PREFIX: floorPrefix,
      CODE_HMAC_KEYS: hmacKeys,
    });
    children.push(floor);
    const floorBase = `http://127.0.0.1:${floorPort}`;
    await waitPort(floorPort, floor);
    const floor$ = await load('floor: bare Fastify route, same HMAC + Redis EVAL', floorBase, jobs, (job) => ({
      method: 'POST',
      path: `/floor/${job.id}`,
      headers: { 'content-type': 'application/json', 'x-courier': job.device.courierId },
      body: JSON.stringify({ code: job.code, at: new Date().toISOString() }),
    }), floor);

    process.stdout.write('\n');
    for (const f of [live$, issue$, service$, floor$]) {
      const cpu = f.cpuMsPerRequest === undefined ? '' : `  CPU ${f.cpuMsPerRequest.toFixed(2)} ms/request (system ${f.systemCpuMsPerRequest?.toFixed(2)})`;
      process.stdout.write(
        `${f.label}\n  ${f.perSecond.toFixed(0)} requests/s  p50 ${f.p50} ms  p99 ${f.p99} ms${cpu}  (${f.ok} ok, ${f.other} other, ${f.seconds.toFixed(2)} s, ${CONNECTIONS} connections)\n`,
      );
    }
    process.stdout.write(`handoff throughput is ${((100 * service$.perSecond) / floor$.perSecond).toFixed(0)}% of the floor\n`);
    // Shared machines skew both figures: say how busy this one was.
    const loadAvg = loadavg().map((l) => Number(l.toFixed(2)));
    process.stdout.write(`machine: ${cpus().length} cpus, load average ${loadAvg.join(' ')}\n`);
    process.stdout.write(
      `${JSON.stringify({ bench: 'delivery', shipments: SHIPMENTS, connections: CONNECTIONS, cpus: cpus().length, loadavg: loadAvg, live: live$, outForDelivery: issue$, handoff: service$, floor: floor$ })}\n`,
    );
  } finally {
    await pg.end().catch(() => undefined);
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    await dropRedisPrefix(prefix);
    await dropRedisPrefix(floorPrefix);
    await vhost.drop();
    await db.drop();
  }
}

/** Waits until the relay has published (and so deleted) every outbox row. */
async function outboxDrained(pg: Client): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { rows } = await pg.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
    if (rows[0]?.n === 0) return;
    if (Date.now() > deadline) throw new Error(`outbox not drained: ${rows[0]?.n} rows left`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** utime and stime of a process in ms (clock ticks of 10 ms), or undefined without /proc. */
function cpuMs(pid: number | undefined): { user: number; system: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return { user: Number(fields[11]) * 10, system: Number(fields[12]) * 10 };
  } catch {
    return undefined;
  }
}

/** Sends one request per job through autocannon; then waits for `settled` (the outbox) and reads the server's CPU. */
function load(
  label: string,
  url: string,
  jobs: Job[],
  request: (job: Job) => BenchRequest,
  server: ChildProcess,
  settled: () => Promise<void> = async () => undefined,
): Promise<Figures> {
  return new Promise((resolvePhase, reject) => {
    let next = 0;
    const cpuBefore = cpuMs(server.pid);
    const started = Date.now();
    autocannon(
      {
        url,
        connections: CONNECTIONS,
        amount: jobs.length,
        // The end of a fixed-amount phase is noticed at the next sample (default 1 s: the rate read low).
        sampleInt: 50,
        requests: [{ setupRequest: (req) => ({ ...req, ...request(jobs[next++ % jobs.length]!) }) }],
      },
      (error, result) => {
        if (error) return reject(error);
        const seconds = (Date.now() - started) / 1000;
        settled()
          .then(() => {
            const cpuAfter = cpuMs(server.pid);
            const total = result['2xx'] + result.non2xx;
            resolvePhase({
              label,
              ok: result['2xx'],
              other: result.non2xx + result.errors + result.timeouts,
              perSecond: result['2xx'] / seconds,
              p50: result.latency.p50,
              p99: result.latency.p99,
              seconds,
              ...(cpuBefore !== undefined && cpuAfter !== undefined && total > 0
                ? {
                    cpuMsPerRequest: (cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system) / total,
                    systemCpuMsPerRequest: (cpuAfter.system - cpuBefore.system) / total,
                  }
                : {}),
            });
          })
          .catch(reject);
      },
    );
  });
}

async function call(base: string, method: 'GET' | 'POST', path: string, key: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function pool<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: size }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

/** Runs a .ts file through the shared runner (bench/run-ts.js), from source. */
function spawnTs(args: string[], env: Record<string, string>, nodeFlags: string[] = []): ChildProcess {
  const runner = join(ROOT, 'bench/run-ts.js');
  const flags = process.env['BENCH_NODE_FLAGS'] ? process.env['BENCH_NODE_FLAGS'].split(' ') : [];
  const child = spawn(process.execPath, [...flags, ...nodeFlags, runner, ...args], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'development', TZ: 'UTC', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.end();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`port ${port} not open`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
