/**
 * A/B of two otp builds in one process, for CPU per request on a busy machine:
 * both are started (real PostgreSQL, Redis, RabbitMQ) and driven in alternating
 * batches through Fastify's inject (no sockets on the HTTP side), each batch's
 * CPU time (this process: HTTP edge, use case, Redis and bus clients) divided by
 * its requests. Alternating short batches see the same neighbours, so the paired
 * ratio is steadier than two bench runs; the HTTP parser and socket writes of
 * the edge are not in it (bench/otp/run.ts measures the whole).
 *
 *   node bench/otp/build-baseline.mjs <rev>        # → tmp/otp-<sha>/dist/main.js
 *   node bench/run-ts.js bench/otp/ab.ts tmp/otp-<sha>/dist [services/otp/dist]
 *
 * Env: AB_BATCHES (default 12), AB_BATCH (requests a batch, default 1500), AB_CONCURRENCY (32).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { resolve } from 'node:path';
import {
  createTestDatabase,
  createTestVhost,
  dropRedisPrefix,
  redisPrefix,
} from '@phonegate/platform/testing';
import * as amqp from 'amqplib';
import { CodeReader, declareEventSink, type SentCode } from '../lib/event-sink';

interface App {
  inject(opts: {
    method: string;
    url: string;
    headers: Record<string, string>;
    payload: string;
  }): Promise<{ statusCode: number }>;
  close(): Promise<void>;
}

const BATCHES = Number(process.env['AB_BATCHES'] ?? 12);
const BATCH = Number(process.env['AB_BATCH'] ?? 1500);
const CONCURRENCY = Number(process.env['AB_CONCURRENCY'] ?? 32);
const API_KEY = 'ab-storefront-key';
const headers = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };

function randomNumber(): string {
  return `+1415${randomInt(200, 1000)}${String(randomInt(0, 10_000)).padStart(4, '0')}`;
}

async function pool(n: number, run: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) await run(next++);
    }),
  );
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function main(): Promise<void> {
  const dirs = [process.argv[2], process.argv[3] ?? 'services/otp/dist'].map((d) => {
    if (!d) throw new Error('usage: ab.ts <baseline dist dir> [other dist dir]');
    return resolve(d);
  });
  const [db, vhost] = await Promise.all([
    createTestDatabase('pg_ab_otp'),
    createTestVhost('ab_otp'),
  ]);
  const prefix = redisPrefix();
  const busKey = randomBytes(32);
  const broker = await amqp.connect(vhost.url);
  const apps: App[] = [];
  try {
    const ch = await broker.createChannel();
    await declareEventSink(ch, 'ab');
    const reader = new CodeReader(ch, 'ab.codes', busKey.toString('base64'));
    const codes: SentCode[] = [];
    const collect = async (want: number): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while (codes.length < want && Date.now() < deadline) {
        const got = await reader.drain();
        if (got.length) codes.push(...got);
        else await new Promise((r) => setTimeout(r, 50));
      }
    };

    const env = {
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      PORT: '0',
      DATABASE_URL: db.url,
      REDIS_KEY_PREFIX: prefix,
      RABBITMQ_URL: vhost.url,
      API_KEYS: `${API_KEY}:storefront`,
      BUS_ENCRYPTION_KEYS: `b1:${busKey.toString('base64')}`,
      CODE_HMAC_KEYS: `c1:${randomBytes(32).toString('base64')}`,
      OTP_SECRET_KEYS: `s1:${randomBytes(32).toString('base64')}`,
      OTP_LIMIT_COUNTRY: '1000000000/1m',
      OTP_COUNTRY_DAILY_CEILING: '1000000000',
      OTP_PUMP_RATIO_MIN_SENDS: '1000000000',
      OTP_EXPIRY_SWEEP_INTERVAL: '5s',
    };
    for (const dir of dirs) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { startOtpService } = require(`${dir}/service.js`) as {
        startOtpService: (e: NodeJS.ProcessEnv, o: { handleSignals: boolean }) => Promise<App>;
      };
      apps.push(await startOtpService(env, { handleSignals: false }));
    }

    const start = (app: App) => () =>
      app.inject({
        method: 'POST',
        url: '/v1/verifications',
        headers,
        payload: JSON.stringify({
          to: randomNumber(),
          channel: 'sms',
          purpose: 'phone_verification',
        }),
      });
    const measure = async (n: number, send: (i: number) => Promise<{ statusCode: number }>) => {
      const t0 = cpuMs();
      let bad = 0;
      await pool(n, async (i) => {
        const res = await send(i);
        if (res.statusCode >= 300) bad++;
      });
      if (bad) process.stderr.write(`${bad} of ${n} answers not 2xx\n`);
      return (cpuMs() - t0) / n;
    };

    // Warm-up (JIT, pools, script cache), then drop the codes it made.
    for (const app of apps) await measure(1000, start(app));
    await collect(2000);
    codes.length = 0;

    const results = apps.map(() => ({ start: [] as number[], check: [] as number[] }));
    for (let b = 0; b < BATCHES; b++) {
      const order = b % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) {
        const r = results[i] as { start: number[]; check: number[] };
        r.start.push(await measure(BATCH, start(apps[i] as App)));
      }
      await collect(2 * BATCH);
      const pending = codes.splice(0, codes.length);
      for (const i of order) {
        const mine = pending.filter((_, k) => k % 2 === i);
        const r = results[i] as { start: number[]; check: number[] };
        r.check.push(
          await measure(mine.length, (k) => {
            const pair = mine[k] as { id: string; code: string };
            return (apps[i] as App).inject({
              method: 'POST',
              url: `/v1/verifications/${pair.id}/check`,
              headers,
              payload: JSON.stringify({ code: pair.code }),
            });
          }),
        );
      }
    }
    const median = (v: number[]) =>
      [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
    const [a, b] = results as [(typeof results)[0], (typeof results)[0]];
    const out = (s: string) => process.stdout.write(`${s}\n`);
    out(
      `\nA = ${dirs[0]}\nB = ${dirs[1]}\n${BATCHES} batches of ${BATCH}, ${CONCURRENCY} in flight (inject)`,
    );
    for (const kind of ['start', 'check'] as const) {
      const paired = a[kind].map((x, k) => (b[kind][k] as number) / x);
      out(
        `${kind}: A ${median(a[kind]).toFixed(3)} ms, B ${median(b[kind]).toFixed(3)} ms CPU per request (medians); ` +
          `B/A paired median ${median(paired).toFixed(3)} (range ${Math.min(...paired).toFixed(2)}–${Math.max(...paired).toFixed(2)})`,
      );
    }
  } finally {
    for (const app of apps) await app.close().catch(() => undefined);
    await broker.close().catch(() => undefined);
    await Promise.all([db.drop(), vhost.drop(), dropRedisPrefix(prefix)]);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`ab failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
