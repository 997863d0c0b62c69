/**
 * notifier bench: messages per second from the queue to the carrier simulator, with p50/p99
 * (envelope time → the simulator receiving the message), for the notifier as its own process
 * (node services/notifier/dist/main.js on real RabbitMQ, Redis and PostgreSQL), next to a floor
 * measured in the same run on the same machine: raw amqplib consume-and-ack of the same
 * envelopes plus a raw SMPP submit_sm to the same simulator (ack after submit_sm_resp). Both
 * normal and with one carrier degraded (smpp-a: +200 ms and 20 % errors; the notifier fails
 * over to http-b, the floor simply resubmits).
 *
 *   npm run build && node bench/run-ts.js bench/notifier/run.ts
 *
 * Env: BENCH_N (messages a phase, default 5000), BENCH_ROUNDS (default 1), BENCH_PRIORITY
 * (standard | bulk | critical, default standard), BENCH_PREFETCH (floor, default 64),
 * BENCH_CONCURRENCY (the lane's concurrency in the notifier; default: the notifier's default),
 * BENCH_PHASES (normal,degraded by default; `normal` alone for quick iterations), BENCH_LOG_LEVEL
 * (the notifier's LOG_LEVEL, default warn; production runs at info), BENCH_NOTIFIER_ENV (more
 * variables for the notifier: `NAME=value,NAME=value`),
 * BENCH_COUNT_CALLS=1 (count the notifier's PostgreSQL statements and Redis commands a message,
 * through the count-calls.js preload), BENCH_NOTIFIER_NODE_ARGS (extra node flags, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 *
 * Critical requests look like the otp service's codes (dedupeKey, origin with a ref, notAfter).
 * Each notifier phase also reports CPU ms a message of the notifier process, of the PostgreSQL
 * backends serving the bench's database, and of Redis, RabbitMQ and the whole machine (those three
 * are shared with whatever else runs, so read them on a quiet machine), measured from the first
 * publish until every message is final (receipt applied) and the outbox is empty.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CarrierSim, type SimMessage } from '@phonegate/carrier-sim';
import type { EventData, notificationRequestedV1 } from '@phonegate/contracts';
import { decodeEnvelope } from '@phonegate/messaging';
import * as amqp from 'amqplib';
import { BulkPublisher } from '../../services/notifier/test/support/bulk-publisher';
import { createTestInfra, type TestInfra } from '../../services/notifier/test/support/harness';
import { NotifierProcess } from '../../services/notifier/test/support/process';
import { startCarrierSim } from '@phonegate/carrier-sim';
import { carriersEnv, freePort, percentile } from '../../services/notifier/test/support/sim';
import { loadAverage, pidsByName, procStat } from '../sale-day/lib/proc';
import { Client } from 'pg';

const N = Number(process.env['BENCH_N'] ?? 5_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 1);
const PRIORITY = (process.env['BENCH_PRIORITY'] ?? 'standard') as 'standard' | 'bulk' | 'critical';
const FLOOR_PREFETCH = Number(process.env['BENCH_PREFETCH'] ?? 64);
const DEGRADED = { latencyMs: 200, errorRate: 0.2 };
const FAST = { ratePerSec: 100_000, maxConcurrent: 64, maxQueue: 1_000 };
const PHASES = (process.env['BENCH_PHASES'] ?? 'normal,degraded').split(',');
const COUNT_CALLS = process.env['BENCH_COUNT_CALLS'] === '1';
const COUNTS_FILE = join(tmpdir(), `notifier-bench-counts-${process.pid}.json`);

// eslint-disable-next-line @typescript-eslint/no-require-imports
const smpp = require('smpp') as {
  connect(
    o: { host: string; port: number },
    cb: () => void,
  ): {
    bind_transceiver(
      p: Record<string, unknown>,
      cb: (pdu: { command_status: number }) => void,
    ): void;
    submit_sm(p: Record<string, unknown>, cb: (pdu: { command_status: number }) => void): void;
    on(event: string, cb: (...args: unknown[]) => void): void;
    close(): void;
  };
};

type NotificationRequest = EventData<typeof notificationRequestedV1>;

interface PhaseResult {
  phase: string;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  seconds: number;
  /** Notifier phases: CPU ms a message, per process group, publish → all final and relayed. */
  cpuMsPerMessage?: Record<string, number>;
  /** Notifier phases: database transactions and Redis commands a message. */
  perMessage?: Record<string, number>;
}

let serial = 0;
function requests(n: number): NotificationRequest[] {
  const round = ++serial;
  return Array.from({ length: n }, (_, i): NotificationRequest => ({
    messageId: randomUUID(),
    priority: PRIORITY,
    channel: 'sms' as const,
    to: `+1${String(200 + round)}${String(5_000_000 + i).padStart(7, '0')}`,
    template: PRIORITY === 'critical' ? 'otp.sign_in' : 'delivery.handed_off',
    locale: 'en',
    variables:
      PRIORITY === 'critical'
        ? { code: String(100_000 + (i % 900_000)), host: 'shop.example.com' }
        : { orderId: `bench_${i}` },
    ...(PRIORITY === 'critical'
      ? {
          notAfter: new Date(Date.now() + 600_000).toISOString(),
          // As the otp service sends its codes.
          dedupeKey: `otp:${round}:${i}:1`,
          origin: { service: 'otp', ref: `chl_${round}_${i}` },
        }
      : {}),
  }));
}

/** Publishes n messages and waits until the simulator has them all; latency = envelope time → received. */
async function measure(
  phase: string,
  sim: CarrierSim,
  publish: (reqs: ReturnType<typeof requests>) => Promise<number[]>,
  meter?: PhaseMeter,
): Promise<PhaseResult> {
  const reqs = requests(N);
  const metering = await meter?.begin();
  const want = new Set(reqs.map((r) => r.to ?? ''));
  const arrived = new Map<string, number>();
  const onMessage = (m: SimMessage) => {
    if (want.has(m.to) && !arrived.has(m.to)) arrived.set(m.to, m.receivedAt);
  };
  sim.store.on('message', onMessage);
  const started = Date.now();
  const times = await publish(reqs);
  const deadline = Date.now() + 600_000;
  while (arrived.size < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  sim.store.off('message', onMessage);
  const last = Math.max(...arrived.values());
  const latencies = reqs
    .map((r, i) => (arrived.get(r.to ?? '') ?? Number.NaN) - times[i]!)
    .filter((x) => Number.isFinite(x));
  const seconds = (last - started) / 1000;
  return {
    phase,
    perSecond: Math.round(arrived.size / seconds),
    p50Ms: Math.round(percentile(latencies, 50)),
    p99Ms: Math.round(percentile(latencies, 99)),
    seconds: +seconds.toFixed(1),
    ...(metering ? await metering.end(arrived.size) : {}),
  };
}

/** Busy CPU time of the whole machine (every process on every core), ms. */
function machineBusyMs(): number {
  const v = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  // user nice system idle iowait irq softirq steal
  return ((v[0] ?? 0) + (v[1] ?? 0) + (v[2] ?? 0) + (v[5] ?? 0) + (v[6] ?? 0) + (v[7] ?? 0)) * 10;
}

interface PhaseMeter {
  begin(): Promise<{ end(messages: number): Promise<Partial<PhaseResult>> }>;
}

type Counts = { pg: Record<string, number>; redis: Record<string, number> };

/**
 * CPU of the notifier, of the PostgreSQL backends of its database, of Redis, RabbitMQ and the
 * machine over a phase (sampled every 250 ms, so short-lived backends count too), until the
 * phase is settled: no message left open and the outbox relayed.
 */
function notifierMeter(notifier: NotifierProcess, dbUrl: string, dbName: string): PhaseMeter {
  const snapshotCounts = async (): Promise<Counts | undefined> => {
    if (!COUNT_CALLS || !notifier.pid) return undefined;
    process.kill(notifier.pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 200));
    return JSON.parse(readFileSync(COUNTS_FILE, 'utf8')) as Counts;
  };
  return {
    async begin() {
      const db = new Client({ connectionString: dbUrl });
      await db.connect();
      const self = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      let backends: number[] = [];
      const refreshBackends = async () => {
        const r = await db.query<{ pid: number }>(
          'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> $2',
          [dbName, self],
        );
        backends = r.rows.map((x) => x.pid);
      };
      await refreshBackends();
      const groups: Record<string, () => number[]> = {
        notifier: () => (notifier.pid ? [notifier.pid] : []),
        'postgres (its db)': () => backends,
        redis: () => pidsByName(/^redis-server$/),
        rabbitmq: () => pidsByName(/^beam\.smp$/),
      };
      const first = new Map<string, number>();
      const latest = new Map<string, number>();
      const sample = () => {
        for (const [name, pids] of Object.entries(groups))
          for (const pid of pids()) {
            const cpu = procStat(pid)?.cpuMs;
            if (cpu === undefined) continue;
            const key = `${name}|${pid}`;
            // A backend born during the phase counts from zero.
            if (!first.has(key)) first.set(key, samples === 0 ? cpu : 0);
            latest.set(key, cpu);
          }
      };
      let samples = 0;
      sample();
      samples++;
      const machineStart = machineBusyMs();
      const countsStart = await snapshotCounts();
      const timer = setInterval(() => {
        sample();
        void refreshBackends().catch(() => undefined);
      }, 250);
      return {
        async end(messages: number) {
          const deadline = Date.now() + 60_000;
          for (;;) {
            const r = await db.query<{ open: number; unsent: number }>(
              `SELECT (SELECT count(*) FROM messages WHERE status IN ('queued', 'sending', 'sent'))::int AS open,
                      (SELECT count(*) FROM outbox WHERE sent_at IS NULL)::int AS unsent`,
            );
            const row = r.rows[0]!;
            if ((row.open === 0 && row.unsent === 0) || Date.now() > deadline) {
              if (row.open || row.unsent) {
                const open = await db.query<{ status: string; n: number }>(
                  `SELECT status, count(*)::int AS n FROM messages
                   WHERE status IN ('queued', 'sending', 'sent') GROUP BY status`,
                );
                process.stderr.write(
                  `not settled: ${row.unsent} outbox rows unsent, open messages: ${JSON.stringify(open.rows)}\n`,
                );
              }
              break;
            }
            await new Promise((res) => setTimeout(res, 100));
          }
          await refreshBackends();
          sample();
          clearInterval(timer);
          const machineMs = machineBusyMs() - machineStart;
          const countsEnd = await snapshotCounts();
          await db.end();
          const cpu: Record<string, number> = {};
          for (const [key, end] of latest) {
            const name = key.slice(0, key.indexOf('|'));
            cpu[name] = (cpu[name] ?? 0) + end - (first.get(key) ?? 0);
          }
          cpu['machine'] = machineMs;
          const per = (x: number) => +(x / messages).toFixed(2);
          const perMessage: Record<string, number> = {};
          if (countsStart && countsEnd) {
            for (const kind of ['pg', 'redis'] as const)
              for (const [word, n] of Object.entries(countsEnd[kind]))
                perMessage[`${kind} ${word}`] = per(n - (countsStart[kind][word] ?? 0));
          }
          return {
            cpuMsPerMessage: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, per(v)])),
            ...(countsStart ? { perMessage } : {}),
          };
        },
      };
    },
  };
}

/** The floor: raw amqplib consume-and-ack, each message a raw submit_sm on one bound session. */
async function startFloor(
  infra: TestInfra,
  sim: CarrierSim,
): Promise<{ publisher: BulkPublisher; stop(): Promise<void> }> {
  const conn = await amqp.connect(infra.vhost.url);
  const ch = await conn.createChannel();
  await ch.assertExchange('phonegate.events', 'topic', { durable: true });
  const queue = 'floor.sms';
  await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await ch.bindQueue(queue, 'phonegate.events', `floor.requested.v1.${PRIORITY}`);
  await ch.prefetch(FLOOR_PREFETCH);
  const session = await new Promise<ReturnType<typeof smpp.connect>>((resolve, reject) => {
    // Its own account at the same simulator (the same SMPP server), so receipts never cross.
    const s = smpp.connect({ host: '127.0.0.1', port: sim.ports.smpp! }, () =>
      s.bind_transceiver({ system_id: 'smpp-floor', password: 'sim-f' }, (pdu) =>
        pdu.command_status === 0 ? resolve(s) : reject(new Error('bind')),
      ),
    );
    s.on('error', () => undefined);
    s.on('deliver_sm', (...args: unknown[]) => {
      const pdu = args[0] as { response(): unknown };
      (s as unknown as { send(p: unknown): void }).send(pdu.response());
    });
  });
  const submit = (to: string, text: string): Promise<void> =>
    new Promise((resolve) => {
      const once = () =>
        session.submit_sm(
          {
            destination_addr: to.slice(1),
            dest_addr_ton: 1,
            dest_addr_npi: 1,
            source_addr: 'Bench',
            short_message: text,
            registered_delivery: 1,
          },
          (pdu) => (pdu.command_status === 0 ? resolve() : once()),
        );
      once();
    });
  await ch.consume(queue, (msg) => {
    if (!msg) return;
    const envelope = decodeEnvelope(msg.content);
    const data = envelope.data as { to?: string; variables: Record<string, unknown> };
    void submit(
      data.to ?? '+10000000000',
      `shop.example.com: your order ${typeof data.variables['orderId'] === 'string' ? data.variables['orderId'] : 'x'} was handed over. Not you? Contact us at once.`,
    ).then(() => ch.ack(msg));
  });
  // The floor publishes the same envelopes under its own routing key.
  const publisher = await BulkPublisher.connect(infra.vhost.url, (key) =>
    key.replace(/^notification\./, 'floor.'),
  );
  return {
    publisher,
    async stop() {
      await publisher.close();
      session.close();
      await ch.close().catch(() => undefined);
      await conn.close().catch(() => undefined);
    },
  };
}

async function main(): Promise<void> {
  const sim = await startCarrierSim({
    maxMessages: ROUNDS * N * 4 + 1_000,
    carriers: [
      { name: 'smpp-a', protocol: 'smpp', systemId: 'smpp-a', password: 'sim-a' },
      {
        name: 'http-b',
        protocol: 'http',
        accountSid: 'ACsimb',
        authToken: 'sim-token-b',
        channels: ['sms', 'voice'],
      },
      { name: 'smtp-main', protocol: 'smtp', username: 'sim', password: 'sim-smtp' },
      { name: 'smpp-floor', protocol: 'smpp', systemId: 'smpp-floor', password: 'sim-f' },
    ],
  });
  const port = await freePort();
  const infra = await createTestInfra({
    LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'warn',
    ...(process.env['BENCH_CONCURRENCY']
      ? { [`NOTIFIER_${PRIORITY.toUpperCase()}_CONCURRENCY`]: process.env['BENCH_CONCURRENCY'] }
      : {}),
    RECEIPT_CALLBACK_BASE_URL: `http://127.0.0.1:${port}`,
    ...Object.fromEntries(
      (process.env['BENCH_NOTIFIER_ENV'] ?? '')
        .split(',')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    ),
    ...carriersEnv(sim, { 'smpp-a': { ...FAST, window: 64 }, 'http-b': FAST }),
  });
  if (COUNT_CALLS) {
    const preload = `--require ${join(__dirname, 'count-calls.js')}`;
    process.env['BENCH_NOTIFIER_NODE_ARGS'] =
      `${process.env['BENCH_NOTIFIER_NODE_ARGS'] ?? ''} ${preload}`;
  }
  const notifier = new NotifierProcess(
    { ...infra.env, ...(COUNT_CALLS ? { COUNT_CALLS_OUT: COUNTS_FILE } : {}) },
    port,
  );
  const meter = notifierMeter(notifier, infra.db.url, infra.db.name);
  const results: PhaseResult[] = [];
  const loadBefore = loadAverage();
  try {
    await notifier.start();
    const floor = await startFloor(infra, sim);
    const publisher = await BulkPublisher.connect(infra.vhost.url);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const label of PHASES) {
        const degraded = label === 'degraded';
        for (const name of ['smpp-a', 'smpp-floor'])
          sim.setBehaviour(name, degraded ? DEGRADED : { latencyMs: 0, errorRate: 0 });
        results.push(await measure(`floor ${label}`, sim, (reqs) => floor.publisher.publish(reqs)));
        results.push(
          await measure(`notifier ${label}`, sim, (reqs) => publisher.publish(reqs), meter),
        );
      }
    }
    await publisher.close();
    await floor.stop();
  } finally {
    await notifier.stop();
    await sim.stop();
    await infra.drop();
  }
  const floorOf = (phase: string) =>
    results.filter((r) => r.phase === phase.replace('notifier', 'floor'));
  process.stdout.write(`\nnotifier bench: ${N} ${PRIORITY} messages a phase, ${ROUNDS} round(s)\n`);
  process.stdout.write('phase              msg/s   p50 ms   p99 ms   seconds   vs floor\n');
  for (const r of results) {
    const f = floorOf(r.phase)[0];
    const ratio = r.phase.startsWith('notifier') && f ? (r.perSecond / f.perSecond).toFixed(2) : '';
    process.stdout.write(
      `${r.phase.padEnd(18)} ${String(r.perSecond).padStart(6)} ${String(r.p50Ms).padStart(8)} ${String(r.p99Ms).padStart(8)} ${String(r.seconds).padStart(9)}   ${ratio}\n`,
    );
  }
  for (const r of results) {
    if (!r.cpuMsPerMessage) continue;
    const cpu = Object.entries(r.cpuMsPerMessage)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    process.stdout.write(`${r.phase}: CPU ms a message: ${cpu}\n`);
    if (r.perMessage) {
      const calls = Object.entries(r.perMessage)
        .filter(([, v]) => v > 0)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      process.stdout.write(`${r.phase}: calls a message: ${calls}\n`);
    }
  }
  // What the notifier warned about (LOG_LEVEL=warn): a healthy run logs (almost) nothing.
  const warnings = new Map<string, number>();
  for (const line of notifier.lines) {
    const msg = /"msg":"([^"]*)"/.exec(line)?.[1] ?? line.slice(0, 80);
    warnings.set(msg, (warnings.get(msg) ?? 0) + 1);
  }
  for (const [msg, n] of [...warnings].sort((a, b) => b[1] - a[1]).slice(0, 5))
    process.stdout.write(`notifier logged ${n} × ${msg}\n`);
  process.stdout.write(`load average before ${loadBefore}, after ${loadAverage()}\n`);
  process.stdout.write(
    `${JSON.stringify({ bench: 'notifier', n: N, priority: PRIORITY, results })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
