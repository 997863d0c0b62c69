/**
 * Handoff confirmations per second, with p50/p99 latency, next to a floor.
 *
 *   node bench/run-ts.js bench/delivery/run.ts
 *
 * Runs delivery-otp as its own process (services/delivery-otp/src/main.ts through the same runner) on
 * the real PostgreSQL, Redis and RabbitMQ (a throw-away database, vhost and
 * key prefix), registers courier devices, sends BENCH_SHIPMENTS shipments out
 * for delivery, reads each code as the customer's app would, then has
 * autocannon confirm every handoff once over HTTP (device secret, Idempotency-Key,
 * atomic Redis check, PostgreSQL record and outbox events). The floor is a bare
 * Fastify route doing the same HMAC + Redis EVAL for as many shipments.
 *
 * Env: BENCH_SHIPMENTS (default 2000), BENCH_CONNECTIONS (default 32), BENCH_DEVICES (default 20).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
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
  options: { url: string; connections: number; amount: number; requests: { setupRequest: (req: CannonRequest) => CannonRequest }[] },
  done: (error: Error | null, result: CannonResult) => void,
) => unknown;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as Autocannon;

const ROOT = join(__dirname, '../..');
const SHIPMENTS = Number(process.env['BENCH_SHIPMENTS'] ?? 2000);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
const DEVICES = Number(process.env['BENCH_DEVICES'] ?? 20);
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
}

async function main(): Promise<void> {
  const db = await createTestDatabase('pg_bench_delivery');
  const vhost = await createTestVhost('bench');
  const prefix = redisPrefix();
  const floorPrefix = redisPrefix();
  const children: ChildProcess[] = [];
  const hmacKeys = `h1:${key32()}`;
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
      },
    );
    children.push(service);
    const base = `http://127.0.0.1:${port}`;
    await waitReady(`${base}/health/ready`, service);

    process.stdout.write(`preparing ${DEVICES} devices and ${SHIPMENTS} shipments out for delivery...\n`);
    const devices: { courierId: string; secret: string }[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const courierId = `cour_${i}`;
      const res = await call(base, 'POST', `/v1/couriers/${courierId}/devices`, KEYS.ops, {});
      devices.push({ courierId, secret: (res as { secret: string }).secret });
    }
    const window = { start: new Date(Date.now() - 3600_000).toISOString(), end: new Date(Date.now() + 3600_000).toISOString() };
    const jobs = Array.from({ length: SHIPMENTS }, (_, i) => ({ id: `shp_${i}`, device: devices[i % DEVICES]!, code: '' }));
    await pool(jobs, 16, async (job) => {
      await call(base, 'POST', `/v1/shipments/${job.id}/out-for-delivery`, KEYS.logistics, {
        orderId: `ord_${job.id}`,
        accountId: `acc_${job.id}`,
        contact: { phone: '+14155550123' },
        courierId: job.device.courierId,
        window,
      });
      job.code = ((await call(base, 'GET', `/v1/shipments/${job.id}/code?accountId=acc_${job.id}`, KEYS.storefront)) as { code: string }).code;
    });

    let next = 0;
    const service$ = await load('delivery-otp handoff (HTTP, auth, idempotency, Redis Lua, PostgreSQL + outbox)', base, () => {
      const job = jobs[next++ % jobs.length]!;
      return {
        method: 'POST',
        path: `/v1/shipments/${job.id}/handoff`,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${job.device.secret}`,
          'idempotency-key': `bench-${job.id}`,
        },
        body: JSON.stringify({ code: job.code, at: new Date().toISOString() }),
      };
    });
    const pg = new Client({ connectionString: db.url });
    await pg.connect();
    const rows = await pg.query<{ n: number }>(`SELECT count(*)::int AS n FROM handoff_attempts WHERE outcome = 'confirmed'`);
    await pg.end();
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
    next = 0;
    const floor$ = await load('floor: bare Fastify route, same HMAC + Redis EVAL', floorBase, () => {
      const job = jobs[next++ % jobs.length]!;
      return {
        method: 'POST',
        path: `/floor/${job.id}`,
        headers: { 'content-type': 'application/json', 'x-courier': job.device.courierId },
        body: JSON.stringify({ code: job.code, at: new Date().toISOString() }),
      };
    });

    process.stdout.write('\n');
    for (const f of [service$, floor$]) {
      process.stdout.write(
        `${f.label}\n  ${f.perSecond.toFixed(0)} confirmations/s  p50 ${f.p50} ms  p99 ${f.p99} ms  (${f.ok} ok, ${f.other} other, ${f.seconds.toFixed(2)} s, ${CONNECTIONS} connections)\n`,
      );
    }
    process.stdout.write(`handoff throughput is ${((100 * service$.perSecond) / floor$.perSecond).toFixed(0)}% of the floor\n`);
    // Shared machines skew both figures: say how busy this one was.
    const loadAvg = loadavg().map((l) => Number(l.toFixed(2)));
    process.stdout.write(`machine: ${cpus().length} cpus, load average ${loadAvg.join(' ')}\n`);
    process.stdout.write(
      `${JSON.stringify({ bench: 'delivery.handoff', shipments: SHIPMENTS, connections: CONNECTIONS, cpus: cpus().length, loadavg: loadAvg, service: service$, floor: floor$ })}\n`,
    );
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    await dropRedisPrefix(prefix);
    await dropRedisPrefix(floorPrefix);
    await vhost.drop();
    await db.drop();
  }
}

function load(label: string, url: string, nextRequest: () => { method: 'POST'; path: string; headers: Record<string, string>; body: string }): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    autocannon(
      {
        url,
        connections: CONNECTIONS,
        amount: SHIPMENTS,
        requests: [{ setupRequest: (req) => ({ ...req, ...nextRequest() }) }],
      },
      (error, result) => {
        if (error) return reject(error);
        const seconds = (Date.now() - started) / 1000;
        resolve({
          label,
          ok: result['2xx'],
          other: result.non2xx + result.errors + result.timeouts,
          perSecond: result['2xx'] / seconds,
          p50: result.latency.p50,
          p99: result.latency.p99,
          seconds,
        });
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
function spawnTs(args: string[], env: Record<string, string>): ChildProcess {
  const runner = join(ROOT, 'bench/run-ts.js');
  const flags = process.env['BENCH_NODE_FLAGS'] ? process.env['BENCH_NODE_FLAGS'].split(' ') : [];
  const child = spawn(process.execPath, [...flags, runner, ...args], {
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
