/**
 * Sign-in bench: sign-ins per second over HTTP against the real stack (the
 * identity and otp services as their own processes, PostgreSQL, Redis,
 * RabbitMQ), not challenged (two-step off) and challenged (two-step by SMS
 * from a device that is not remembered: password, then a code sent through
 * otp), next to the floor: argon2id verification alone, with the service's
 * parameters, at the same concurrency. Then the enumeration check (S6): the
 * unknown-e-mail and wrong-password medians side by side.
 *
 *   npm run build && node bench/run-ts.js bench/signin/run.ts
 *
 * Env: BENCH_DURATION (seconds per phase, default 10), BENCH_CONNECTIONS
 * (default 8), BENCH_PAIRS (unknown/wrong pairs, default 200),
 * IDENTITY_ARGON2_MEMORY_KIB / _TIME_COST / _PARALLELISM (default: the
 * service defaults, 19456 KiB, 2, 1).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createTestDatabase, createTestVhost, dropRedisPrefix, redisPrefix } from '@phonegate/platform/testing';
import * as amqp from 'amqplib';
import { argon2id, hash, verify } from 'argon2';

// autocannon ships no types; this is the part of its API the bench uses.
interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  '2xx': number;
  statusCodeStats?: Record<string, { count: number }>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Promise<CannonResult>;

const ROOT = join(__dirname, '..', '..');
const DURATION = Number(process.env['BENCH_DURATION'] ?? 10);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 8);
const PAIRS = Number(process.env['BENCH_PAIRS'] ?? 200);
const ARGON2 = {
  memoryCost: Number(process.env['IDENTITY_ARGON2_MEMORY_KIB'] ?? 19_456),
  timeCost: Number(process.env['IDENTITY_ARGON2_TIME_COST'] ?? 2),
  parallelism: Number(process.env['IDENTITY_ARGON2_PARALLELISM'] ?? 1),
};
const API_KEY = 'bench-storefront-key';
const HEADERS = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  return port;
}

/** A service as its own process: from dist/ when built, else from source through bench/run-ts.js. */
function startService(name: 'identity' | 'otp', env: Record<string, string>): ChildProcess {
  const dist = join(ROOT, `services/${name}/dist/main.js`);
  const args = existsSync(dist) ? [dist] : [join(ROOT, 'bench/run-ts.js'), join(ROOT, `services/${name}/src/main.ts`)];
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(`[${name}] ${d.toString()}`));
  return child;
}

async function until<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${what} not ready in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers
async function post(base: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: HEADERS, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

/** argon2id verification alone: the floor of a sign-in's cost. */
async function argonFloor(concurrency: number) {
  const password = randomBytes(12).toString('base64url');
  const digest = await hash(password, { type: argon2id, ...ARGON2 });
  const one: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t = performance.now();
    await verify(digest, password);
    one.push(performance.now() - t);
  }
  one.sort((a, b) => a - b);
  // Throughput at the bench's concurrency (libuv's thread pool runs argon2).
  const latencies: number[] = [];
  let done = 0;
  const end = performance.now() + Math.min(DURATION, 5) * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await verify(digest, password);
        latencies.push(performance.now() - t);
        done++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const seconds = Math.min(DURATION, 5);
  return { single: { p50: percentile(one, 50), p99: percentile(one, 99) }, rps: done / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function cannon(base: string, body: unknown): Promise<CannonResult> {
  return autocannon({
    url: `${base}/v1/sessions`,
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify(body),
    connections: CONNECTIONS,
    duration: DURATION,
  });
}

async function main(): Promise<void> {
  const [db, otpDb, vhost] = await Promise.all([createTestDatabase('pg_bench_identity'), createTestDatabase('pg_bench_identity_otp'), createTestVhost('t_bench_signin')]);
  const [prefix, otpPrefix] = [redisPrefix(), redisPrefix()];
  const busKey = `b1:${randomBytes(32).toString('base64')}`;
  const [port, otpPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  const children: ChildProcess[] = [];
  // The notifier's place: something bound to codes and otp events, so nothing is unroutable.
  const conn = await amqp.connect(vhost.url);
  const ch = await conn.createChannel();
  await ch.assertExchange('phonegate.events', 'topic', { durable: true });
  const { queue } = await ch.assertQueue('', { exclusive: true });
  for (const b of ['notification.requested.v1.#', 'otp.#', 'identity.#']) await ch.bindQueue(queue, 'phonegate.events', b);
  await ch.consume(queue, () => undefined, { noAck: true });

  try {
    const common = { NODE_ENV: 'test', LOG_LEVEL: 'warn', REDIS_URL: 'redis://127.0.0.1:6379', RABBITMQ_URL: vhost.url, BUS_ENCRYPTION_KEYS: busKey, API_KEYS: `${API_KEY}:storefront` };
    children.push(
      startService('otp', {
        ...common,
        PORT: String(otpPort),
        DATABASE_URL: otpDb.url,
        REDIS_KEY_PREFIX: otpPrefix,
        OTP_LIMIT_DESTINATION: '1000000/1m',
        OTP_LIMIT_ACCOUNT: '1000000/1m',
        OTP_LIMIT_IP: '1000000/1m',
        OTP_LIMIT_COUNTRY: '1000000/1m',
        OTP_COUNTRY_DAILY_CEILING: '100000000',
        OTP_PUMP_ADJACENT_THRESHOLD: '1000',
        OTP_PUMP_RATIO_MIN_SENDS: '100000000',
        OTP_UNREQUESTED_THRESHOLD: '100',
      }),
      startService('identity', {
        ...common,
        PORT: String(port),
        DATABASE_URL: db.url,
        REDIS_KEY_PREFIX: prefix,
        IDENTITY_ARGON2_MEMORY_KIB: String(ARGON2.memoryCost),
        IDENTITY_ARGON2_TIME_COST: String(ARGON2.timeCost),
        IDENTITY_ARGON2_PARALLELISM: String(ARGON2.parallelism),
        // The bench measures cost, not the limits: failures would otherwise be throttled.
        IDENTITY_SIGNIN_MAX_FAILURES_PER_ACCOUNT: '100000000',
        IDENTITY_SIGNIN_MAX_FAILURES_PER_IP: '100000000',
      }),
    );
    await until(async () => ((await fetch(`${base}/health/ready`)).ok ? true : undefined), 'identity');
    await until(async () => ((await fetch(`http://127.0.0.1:${otpPort}/health/ready`)).ok ? true : undefined), 'otp');

    // Accounts: one without two-step, one with two-step by SMS.
    const password = randomBytes(12).toString('base64url');
    const plain = await post(base, '/v1/accounts', { email: `plain-${randomBytes(4).toString('hex')}@bench.example`, password });
    const guarded = await post(base, '/v1/accounts', { email: `guarded-${randomBytes(4).toString('hex')}@bench.example`, password });
    // A number verified through the real flow needs its code: read it from the bus.
    const codes = new Map<string, string>();
    const { SensitiveCipher } = await import('@phonegate/messaging');
    const [kid, key] = busKey.split(':') as [string, string];
    const cipher = new SensitiveCipher({ keys: { [kid]: key }, activeKeyId: kid });
    const { queue: codeQueue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(codeQueue, 'phonegate.events', 'notification.requested.v1.#');
    const { consumerTag } = await ch.consume(
      codeQueue,
      (msg) => {
        if (!msg) return;
        const env = JSON.parse(msg.content.toString('utf8'));
        const data = cipher.decryptPaths(env.data, env.sensitive ?? [], env.type) as { origin?: { ref?: string }; variables?: { code?: string } };
        if (data.origin?.ref && data.variables?.code) codes.set(data.origin.ref, data.variables.code);
      },
      { noAck: true },
    );
    const added = await until(async () => {
      const r = await post(base, `/v1/accounts/${guarded.body.id}/phones`, { number: '+14155550142' });
      return r.status === 202 ? r : undefined;
    }, 'otp over the bus');
    const code = await until(async () => codes.get(added.body.verification.challengeId), 'verification code', 10_000);
    const verified = await post(base, `/v1/accounts/${guarded.body.id}/phones/${added.body.phoneId}/verify`, { code });
    if (verified.status !== 200) throw new Error(`verify: ${verified.status}`);
    await fetch(`${base}/v1/accounts/${guarded.body.id}/two-step`, { method: 'PUT', headers: HEADERS, body: JSON.stringify({ enabled: true, method: 'sms' }) });
    await ch.cancel(consumerTag);

    process.stdout.write(`\nsign-in bench: ${DURATION}s per phase, ${CONNECTIONS} connections, argon2id m=${ARGON2.memoryCost} KiB t=${ARGON2.timeCost} p=${ARGON2.parallelism}\n\n`);
    const floor = await argonFloor(CONNECTIONS);
    const device = { id: 'bench-device', name: 'bench', ip: '198.51.100.10' };
    const notChallenged = await cannon(base, { email: plain.body.email, password, device });
    const challenged = await cannon(base, { email: guarded.body.email, password, device });

    const row = (name: string, rps: number, p50: number, p99: number, note: string) =>
      process.stdout.write(`${name.padEnd(34)}${fmt(rps).padStart(10)}${fmt(p50).padStart(10)}${fmt(p99).padStart(10)}   ${note}\n`);
    process.stdout.write(`${'phase'.padEnd(34)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}\n`);
    row('argon2id verify alone (floor)', floor.rps, floor.p50, floor.p99, `one at a time: p50 ${fmt(floor.single.p50)} ms, p99 ${fmt(floor.single.p99)} ms`);
    const statusNote = (r: CannonResult) => `2xx ${r['2xx']}, non-2xx ${r.non2xx}, errors ${r.errors}`;
    row('sign-in, not challenged (201)', notChallenged.requests.average, notChallenged.latency.p50, notChallenged.latency.p99, statusNote(notChallenged));
    row('sign-in, challenged (202 + code)', challenged.requests.average, challenged.latency.p50, challenged.latency.p99, statusNote(challenged));
    process.stdout.write(
      `ratio to the floor: not challenged ${fmt(notChallenged.requests.average / floor.rps, 2)}, challenged ${fmt(challenged.requests.average / floor.rps, 2)}\n`,
    );

    // S6: unknown e-mail and wrong password, interleaved, one at a time.
    const unknown: number[] = [];
    const wrong: number[] = [];
    const timed = async (email: string, into: number[]) => {
      const t = performance.now();
      const r = await post(base, '/v1/sessions', { email, password: randomBytes(12).toString('base64url'), device });
      into.push(performance.now() - t);
      if (r.status !== 401) throw new Error(`expected 401, got ${r.status}`);
    };
    for (let i = 0; i < PAIRS; i++) {
      if (i % 2 === 0) {
        await timed(`nobody-${randomBytes(4).toString('hex')}@bench.example`, unknown);
        await timed(plain.body.email, wrong);
      } else {
        await timed(plain.body.email, wrong);
        await timed(`nobody-${randomBytes(4).toString('hex')}@bench.example`, unknown);
      }
    }
    unknown.sort((a, b) => a - b);
    wrong.sort((a, b) => a - b);
    const [mu, mw] = [percentile(unknown, 50), percentile(wrong, 50)];
    process.stdout.write(`\nenumeration (S6), ${PAIRS} pairs, one at a time:\n`);
    process.stdout.write(`${''.padEnd(34)}${'p50 ms'.padStart(10)}${'p90 ms'.padStart(10)}${'p99 ms'.padStart(10)}\n`);
    process.stdout.write(`${'unknown e-mail (401)'.padEnd(34)}${fmt(mu, 2).padStart(10)}${fmt(percentile(unknown, 90), 2).padStart(10)}${fmt(percentile(unknown, 99), 2).padStart(10)}\n`);
    process.stdout.write(`${'wrong password (401)'.padEnd(34)}${fmt(mw, 2).padStart(10)}${fmt(percentile(wrong, 90), 2).padStart(10)}${fmt(percentile(wrong, 99), 2).padStart(10)}\n`);
    process.stdout.write(`median difference: ${fmt(Math.abs(mu - mw), 2)} ms (${fmt((100 * Math.abs(mu - mw)) / Math.max(mu, mw), 1)} %)\n`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.filter((c) => c.exitCode === null).map((c) => once(c, 'exit')));
    await conn.close().catch(() => undefined);
    await Promise.all([db.drop(), otpDb.drop(), vhost.drop(), dropRedisPrefix(prefix), dropRedisPrefix(otpPrefix)]);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
