/**
 * The whole platform for a sale-day scenario: `startStack` (four services as processes, the
 * carrier simulator, the gateway, on the real RabbitMQ, Redis and PostgreSQL) with the bench's
 * settings, plus what a scenario needs around it: accounts created before the timed phase, order
 * updates queued straight on the bus, carrier knobs, the notifier's breaker states and metrics,
 * and CPU / memory per process.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type EventData, notificationRequestedV1 } from '@phonegate/contracts';
import {
  EnvelopeCodec,
  encodeEnvelope,
  eventProperties,
  SensitiveCipher,
} from '@phonegate/messaging';
import { SERVICES, type Stack, type StackOptions, startStack } from '@phonegate/stack';
import * as amqp from 'amqplib';
import { Client } from 'pg';
import { type DestinationPool, ORDER_RANGES, DestinationPool as Pool } from './numbers';
import { INFRA_GROUPS, type MeteredGroup, ProcessMeter } from './proc';
import type { MixAccounts } from './mix';

const ROOT = join(__dirname, '..', '..', '..');

/**
 * Settings the bench changes, and why. A sale day has millions of distinct customers; the bench
 * simulates them from one machine with distinct destinations, accounts and client IPs, so the
 * per-destination, per-account and per-IP limits stay at their defaults. What is raised is what
 * adds up over all customers, which one client hits at once:
 */
export const BENCH_ENV: NonNullable<StackOptions['env']> = {
  otp: {
    // Per calling code, all customers together: default 600/min would cap a country at 10/s.
    OTP_LIMIT_COUNTRY: '100000000/1m',
    // Daily ceiling per calling code (default 100,000): a long bench passes it.
    OTP_COUNTRY_DAILY_CEILING: '1000000000',
    // SMS-pumping signals: the bench never types its codes in (no verifications), which is
    // exactly the pumping signature (sends without verifications in a prefix), and random
    // numbers from a few ranges land next to each other more often than real customers do.
    OTP_PUMP_RATIO_MIN_SENDS: '1000000000',
    OTP_PUMP_ADJACENT_THRESHOLD: '1000',
    // Resends are part of the mix; the default 30 s cooldown would keep them out of short phases.
    OTP_RESEND_COOLDOWN: '5s',
  },
  // A feed buffer of some seconds at the highest rates (the tracker reads it every 100 ms).
  'carrier-sim': { SIM_MAX_MESSAGES: '20000', SIM_LOG_LEVEL: 'warn' },
};

/**
 * The carriers' contracted throughput: the stack's defaults (smpp-a 200/s, http-b 100/s, what a
 * small account gets) would cap the platform below the target, so the bench's accounts allow
 * more; breaker, bulkhead and timeouts stay the notifier's defaults.
 */
export const BENCH_CARRIERS: NonNullable<StackOptions['carriers']> = {
  'smpp-a': { ratePerSec: 5_000, window: 64 },
  'http-b': { ratePerSec: 5_000 },
};

export interface BenchStackOptions {
  /** Log level of every service (default `warn`: the bench measures the work, not log volume). */
  logLevel?: string;
  /** Extra environment, merged over BENCH_ENV. */
  env?: StackOptions['env'];
  carriers?: StackOptions['carriers'];
  /**
   * Services to run with `--cpu-prof`: the profile is written when the service stops, to
   * artifacts/sale-day/prof/<service>/ (open in Chrome DevTools or speedscope).
   */
  profile?: readonly string[];
  /** The Redis every service uses (default the stack's, 127.0.0.1:6379): a private one for a crash drill. */
  redisUrl?: string;
}

export interface DbStats {
  /** Committed and rolled-back transactions (every statement outside a transaction is one). */
  transactions: number;
  /** Rows inserted + updated + deleted. */
  rowsWritten: number;
  /** Rows read (fetched by index + returned by scans). */
  rowsRead: number;
}

export interface TableStats {
  service: string;
  table: string;
  seqScans: number;
  seqRowsRead: number;
  indexScans: number;
  /** Live rows fetched by index scans (pg_stat_user_tables.idx_tup_fetch). */
  indexRowsFetched: number;
  rowsWritten: number;
  /** Index entries read over all the table's indexes (pg_stat_user_indexes.idx_tup_read; dead entries included). */
  indexEntriesRead: number;
}

export interface BenchStack {
  stack: Stack;
  /** Directory of this run's CPU profiles (when `profile` was given). */
  profileDir: string;
  /** CPU and RSS of each service process (and replicas), the simulator, infrastructure and the bench. */
  meter: ProcessMeter;
  /** Service processes only (for "RSS of each service"). */
  serviceGroups(): MeteredGroup[];
  /** PUT /_sim/carriers/:name. */
  setCarrier(name: string, patch: Record<string, unknown>): Promise<void>;
  /** GET /v1/carriers of the notifier (ops key): breaker states. */
  carriers(): Promise<{ id: string; state: string; [k: string]: unknown }[]>;
  /** Work each service's database did so far (pg_stat_database; updated about once a second). */
  dbStats(): Promise<Record<string, DbStats>>;
  /** Per service database: rows read by sequential scans and index fetches, per table (pg_stat_user_tables). */
  tableStats(): Promise<TableStats[]>;
  /** Every series of one Prometheus metric of a service: labels and value. */
  series(service: string, name: string): Promise<{ labels: Record<string, string>; value: number }[]>;
  /** One Prometheus counter of a service, summed over label sets that match `labels`. */
  metric(service: string, name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

export async function startBenchStack(options: BenchStackOptions = {}): Promise<BenchStack> {
  const profileDir = join(ROOT, 'artifacts', 'sale-day', 'prof', new Date().toISOString().replace(/[:.]/g, '-'));
  const env: NonNullable<StackOptions['env']> = {};
  for (const key of new Set([...Object.keys(BENCH_ENV), ...Object.keys(options.env ?? {})]) as Set<
    keyof NonNullable<StackOptions['env']>
  >)
    env[key] = { ...BENCH_ENV[key], ...options.env?.[key] };
  env.all = { LOG_LEVEL: options.logLevel ?? 'warn', ...env.all };
  const nodeArgs: NonNullable<StackOptions['nodeArgs']> = {};
  for (const service of options.profile ?? []) {
    const dir = join(profileDir, service);
    mkdirSync(dir, { recursive: true });
    nodeArgs[service as keyof typeof nodeArgs] = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  }
  const carriers: NonNullable<StackOptions['carriers']> = {};
  for (const id of ['smpp-a', 'http-b', 'smtp-main'] as const)
    carriers[id] = { ...BENCH_CARRIERS[id], ...options.carriers?.[id] };
  const stack = await startStack({
    env,
    carriers,
    nodeArgs,
    ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}),
  });

  const pidOf = (child?: { pid?: number; exitCode: number | null; signalCode: string | null }) =>
    child?.pid !== undefined && child.exitCode === null && child.signalCode === null
      ? [child.pid]
      : [];
  const serviceGroups = (): MeteredGroup[] => [
    ...SERVICES.map((s) => ({ name: s, pids: () => pidOf(stack.services[s].child) })),
    ...SERVICES.flatMap((s) =>
      stack.replicas[s].map((r) => ({ name: r.name, pids: () => pidOf(r.child) })),
    ),
  ];
  const meter = new ProcessMeter(() => [
    ...serviceGroups(),
    { name: 'carrier-sim', pids: () => pidOf(stack.sim.handle.child) },
    ProcessMeter.self(),
    ...INFRA_GROUPS,
  ]);

  const ops = { authorization: `Bearer ${stack.keys.ops}` };
  return {
    stack,
    profileDir,
    meter,
    serviceGroups,
    async setCarrier(name, patch) {
      const res = await fetch(`${stack.sim.controlUrl}/_sim/carriers/${name}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(patch),
      });
      if (!res.ok) throw new Error(`PUT /_sim/carriers/${name}: ${res.status}`);
    },
    async carriers() {
      const res = await fetch(`${stack.gatewayUrl}/v1/carriers`, {
        headers: ops,
        signal: AbortSignal.timeout(2_000),
      });
      if (!res.ok) throw new Error(`GET /v1/carriers: ${res.status}`);
      return ((await res.json()) as { carriers: { id: string; state: string }[] }).carriers;
    },
    async dbStats() {
      const admin = new Client({ connectionString: stack.databases.identity });
      await admin.connect();
      try {
        const names = Object.fromEntries(
          SERVICES.map((s) => [stack.databases[s].split('/').pop()!, s]),
        );
        const rows = await admin.query<{
          datname: string;
          tx: string;
          written: string;
          read: string;
        }>(
          `SELECT datname, xact_commit + xact_rollback AS tx,
                  tup_inserted + tup_updated + tup_deleted AS written, tup_fetched + tup_returned AS read
             FROM pg_stat_database WHERE datname = ANY($1)`,
          [Object.keys(names)],
        );
        return Object.fromEntries(
          rows.rows.map((r) => [
            names[r.datname]!,
            { transactions: Number(r.tx), rowsWritten: Number(r.written), rowsRead: Number(r.read) },
          ]),
        );
      } finally {
        await admin.end();
      }
    },
    async tableStats() {
      const all: TableStats[] = [];
      for (const service of SERVICES) {
        const c = new Client({ connectionString: stack.databases[service] });
        await c.connect();
        try {
          const rows = await c.query<{
            relname: string;
            seq_scan: string;
            seq_tup_read: string;
            idx_scan: string | null;
            idx_tup_fetch: string | null;
            written: string;
            idx_read: string | null;
          }>(
            `SELECT t.relname, t.seq_scan, t.seq_tup_read, t.idx_scan, t.idx_tup_fetch,
                    t.n_tup_ins + t.n_tup_upd + t.n_tup_del AS written,
                    (SELECT sum(i.idx_tup_read) FROM pg_stat_user_indexes i WHERE i.relid = t.relid) AS idx_read
               FROM pg_stat_user_tables t`,
          );
          for (const r of rows.rows)
            all.push({
              service,
              table: r.relname,
              seqScans: Number(r.seq_scan),
              seqRowsRead: Number(r.seq_tup_read),
              indexScans: Number(r.idx_scan ?? 0),
              indexRowsFetched: Number(r.idx_tup_fetch ?? 0),
              rowsWritten: Number(r.written),
              indexEntriesRead: Number(r.idx_read ?? 0),
            });
        } finally {
          await c.end();
        }
      }
      return all;
    },
    async series(service, name) {
      const handle = stack.services[service as keyof typeof stack.services];
      const text = await (await fetch(`${handle.url}/metrics`)).text();
      const found: { labels: Record<string, string>; value: number }[] = [];
      for (const line of text.split('\n')) {
        const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const labels: Record<string, string> = {};
        for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
        found.push({ labels, value: Number(m[3]) });
      }
      return found;
    },
    async metric(service, name, labels = {}) {
      const handle = stack.services[service as keyof typeof stack.services];
      const text = await (await fetch(`${handle.url}/metrics`)).text();
      let sum = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
        const matches = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
        if (matches) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return sum;
    },
    stop: () => stack.stop(),
  };
}

/**
 * Accounts for the mix, created before the timed phase straight in identity's database (one
 * account is created through the API first and its argon2id hash reused, so a sign-in costs what
 * it costs in production): `plain` accounts without phones, and `twoStep` accounts with two-step
 * by SMS on a verified primary number from `numbers`.
 */
export async function seedAccounts(
  stack: Stack,
  counts: { plain: number; twoStep: number },
  numbers: DestinationPool,
): Promise<MixAccounts> {
  const password = `sale-day-${randomUUID()}`;
  const res = await fetch(`${stack.gatewayUrl}/v1/accounts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.keys.storefront}` },
    body: JSON.stringify({ email: `template-${randomUUID()}@sale.test`, password }),
  });
  if (res.status !== 201) throw new Error(`POST /v1/accounts: ${res.status} ${await res.text()}`);
  const { id: templateId } = (await res.json()) as { id: string };
  const db = new Client({ connectionString: stack.databases.identity });
  await db.connect();
  try {
    const hash = (
      await db.query<{ password_hash: string }>('SELECT password_hash FROM accounts WHERE id = $1', [
        templateId,
      ])
    ).rows[0]!.password_hash;
    const insertAccounts = async (n: number, twoStep: boolean) => {
      const ids = Array.from({ length: n }, () => randomUUID());
      const emails = ids.map((id) => `${id}@sale.test`);
      for (let i = 0; i < n; i += 5_000) {
        await db.query(
          `INSERT INTO accounts (id, email, email_normalized, password_hash, locale, two_step_enabled, two_step_method, created_at, updated_at)
           SELECT id, email, email, $3, 'en', $4, $5, now(), now() FROM unnest($1::uuid[], $2::text[]) AS t(id, email)`,
          [ids.slice(i, i + 5_000), emails.slice(i, i + 5_000), hash, twoStep, twoStep ? 'sms' : null],
        );
      }
      return { ids, emails };
    };
    const plain = await insertAccounts(counts.plain, false);
    const two = await insertAccounts(counts.twoStep, true);
    const phones = two.ids.map(() => numbers.next());
    for (let i = 0; i < phones.length; i += 5_000) {
      const slice = phones.slice(i, i + 5_000);
      await db.query(
        `INSERT INTO phones (id, account_id, e164, country, line_type, status, is_primary, channel, created_at, verified_at)
         SELECT gen_random_uuid(), a, p, c, t, 'verified', true, 'sms', now(), now()
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS x(a, p, c, t)`,
        [
          two.ids.slice(i, i + 5_000),
          slice,
          slice.map((p) => numbers.countryOf(p) ?? null),
          slice.map((p) => (p.startsWith('+1') ? 'FIXED_LINE_OR_MOBILE' : 'MOBILE')),
        ],
      );
    }
    return {
      plain: plain.ids,
      twoStep: two.emails.map((email, i) => ({ email, password, phone: phones[i]! })),
    };
  } finally {
    await db.end();
  }
}

/**
 * A notifier that has been running for a while has a message log of some size; a fresh one has
 * an empty table, where PostgreSQL's generic plans for the notifier's batched `unnest(...)` joins
 * pick sequential scans of `messages` (measured: below ~10,000 rows). The bench starts from a log
 * of `rows` old, delivered messages (analyzed), like a deployment on its second day.
 */
export async function prefillMessageLog(stack: Stack, rows: number): Promise<void> {
  const db = new Client({ connectionString: stack.databases.notifier });
  await db.connect();
  try {
    await db.query(
      `INSERT INTO messages (id, priority, channel, template, locale, body, status, attempts, carrier,
                             provider_message_id, requested_at, created_at, updated_at)
       SELECT gen_random_uuid(), 'standard', 'sms', 'order.status_changed.shipped', 'en',
              'Shop: your order was shipped.', 'delivered', 1, 'smpp-a', md5(i::text || random()::text),
              now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
         FROM generate_series(1, $1) AS i`,
      [rows],
    );
    await db.query('ANALYZE messages');
  } finally {
    await db.end();
  }
}

type NotificationRequest = EventData<typeof notificationRequestedV1>;

/**
 * Queues order updates (`notification.requested.v1`, standard or bulk priority) straight on the
 * bus, as the storefront's order service would, with confirms every `batch`: the fastest way to
 * have 100,000 waiting. Order updates go only to numbers verified on an account (the notifier's
 * contact projection, fed by identity's `phone.verified` events), so the customers' numbers are
 * first written into that projection (`contact_phones`), as if each had verified it earlier.
 * Returns the publish rate (the raw amqplib floor of this step) and the destinations used.
 */
export async function queueOrderUpdates(
  stack: Stack,
  count: number,
  options: {
    priority?: 'standard' | 'bulk' | ((i: number) => 'standard' | 'bulk');
    batch?: number;
    /** Called for each message as it is published (its destination and envelope time). */
    onPublish?: (to: string, at: number) => void;
  } = {},
): Promise<{ published: number; seconds: number; perSecond: number; destinations: DestinationPool }> {
  const destinations = new Pool(ORDER_RANGES);
  const numbers = Array.from({ length: count }, () => destinations.next());
  const db = new Client({ connectionString: stack.databases.notifier });
  await db.connect();
  try {
    for (let i = 0; i < count; i += 10_000) {
      const slice = numbers.slice(i, i + 10_000);
      await db.query(
        `INSERT INTO contact_phones (phone_id, account_id, e164, is_primary, verified_at, removed_at)
         SELECT gen_random_uuid()::text, gen_random_uuid()::text, e, true, now(), NULL FROM unnest($1::text[]) AS t(e)`,
        [slice],
      );
    }
  } finally {
    await db.end();
  }
  const [kid, key] = stack.busKeys.split(':') as [string, string];
  const codec = new EnvelopeCodec(
    'sale-day-bench',
    new SensitiveCipher({ keys: { [kid]: key }, activeKeyId: kid }),
  );
  const conn = await amqp.connect(stack.amqpUrl);
  // An error rejects the pending confirm wait below; without a listener it would end the process.
  conn.on('error', () => undefined);
  const ch = await conn.createConfirmChannel();
  ch.on('error', () => undefined);
  const batch = options.batch ?? 2_000;
  const priorityOf =
    typeof options.priority === 'function'
      ? options.priority
      : () => (options.priority as 'standard' | 'bulk' | undefined) ?? 'bulk';
  const statuses = ['confirmed', 'packed', 'shipped', 'delivered'] as const;
  const started = Date.now();
  try {
    for (let i = 0; i < count; i++) {
      const request: NotificationRequest = {
        messageId: randomUUID(),
        priority: priorityOf(i),
        channel: 'sms',
        to: numbers[i]!,
        template: `order.status_changed.${statuses[i % statuses.length]!}`,
        locale: 'en',
        variables: { orderId: `ord_${i.toString(36)}` },
        origin: { service: 'orders', ref: `ord_${i.toString(36)}` },
      };
      const { envelope, routingKey } = codec.event(notificationRequestedV1, request);
      options.onPublish?.(request.to!, Date.parse(envelope.time));
      if (
        !ch.publish('phonegate.events', routingKey, encodeEnvelope(envelope), eventProperties(envelope))
      )
        await new Promise<void>((resolve) => ch.once('drain', () => resolve()));
      if ((i + 1) % batch === 0) await ch.waitForConfirms();
    }
    await ch.waitForConfirms();
  } finally {
    await ch.close().catch(() => undefined);
    await conn.close().catch(() => undefined);
  }
  const seconds = (Date.now() - started) / 1000;
  return { published: count, seconds, perSecond: count / seconds, destinations };
}

/**
 * Messages waiting in named queues, through one amqplib channel (cheap enough to poll). Survives
 * the broker going away (a crash drill, `rabbitmqctl stop_app` by someone else on the machine):
 * depths are then missing, and the next call connects again.
 */
export async function queueWatcher(
  stack: Stack,
): Promise<{ depths(names: readonly string[]): Promise<Record<string, number>>; close(): Promise<void> }> {
  let conn: amqp.ChannelModel | undefined;
  let ch: amqp.Channel | undefined;
  const open = async () => {
    conn = await amqp.connect(stack.amqpUrl);
    conn.on('error', () => undefined);
    conn.on('close', () => {
      conn = undefined;
      ch = undefined;
    });
    ch = await conn.createChannel();
    ch.on('error', () => undefined);
    ch.on('close', () => (ch = undefined));
  };
  await open();
  return {
    async depths(names) {
      const out: Record<string, number> = {};
      try {
        if (!conn) await open();
        for (const name of names) {
          try {
            if (!ch) ch = await conn!.createChannel();
            out[name] = (await ch.checkQueue(name)).messageCount;
          } catch {
            // a missing queue closes the channel: the next one opens another
            ch = undefined;
          }
        }
      } catch {
        // the broker is away
      }
      return out;
    },
    async close() {
      await conn?.close().catch(() => undefined);
    },
  };
}

/** Messages waiting in the notifier's queues (via rabbitmqctl, slow: a VM start), by queue name. */
export async function queueDepths(stack: Stack): Promise<Record<string, number>> {
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      'rabbitmqctl',
      ['-q', 'list_queues', '-p', stack.vhost, 'name', 'messages', '--no-table-headers'],
      (error, stdout) => (error ? reject(error instanceof Error ? error : new Error(error.message)) : resolve(stdout)),
    ),
  );
  const depths: Record<string, number> = {};
  for (const line of out.trim().split('\n')) {
    const [name, n] = line.trim().split(/\s+/);
    if (name && n) depths[name] = Number(n);
  }
  return depths;
}
