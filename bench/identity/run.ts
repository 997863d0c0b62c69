/**
 * identity bench: the CPU identity spends per phone add (POST phones → otp over the bus), per
 * resend and verification of that number, per challenged sign-in and per finished sign-in (code →
 * session token), over HTTP against the real stack (otp and identity as their own processes from
 * dist/, PostgreSQL, Redis, RabbitMQ; own databases, vhost and Redis prefixes).
 *
 *   npm run build && node bench/run-ts.js bench/identity/run.ts
 *
 * Each phase sends a fixed number of requests (each add to an account of its own and a number of
 * its own, as on a sale day); the figure that matters on a shared machine is identity's CPU per
 * request (user + system from /proc/<pid>/stat, idle rate subtracted), req/s and latency swing
 * with the neighbours' load. argon2id runs with the lowest parameters the config allows, and its
 * cost alone is measured and subtracted from the sign-in row ("excl. argon2").
 *
 * Env: BENCH_REQUESTS (per phase, default 1000), BENCH_CONNECTIONS (default 16), BENCH_ROUNDS
 * (default 3), BENCH_IDENTITY_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`),
 * BENCH_IDENTITY_MAIN (identity's main.js; default services/identity/dist/main.js),
 * BENCH_COMPARE (a second build's main.js, e.g. the previous commit's dist copied to
 * /tmp/identity-base/dist: both run side by side, rounds alternating, same machine load).
 * BENCH_STEPS (which phases: `1` adds only, `4,5` sign-ins only; 2 and 3 need 1). Summarise a profile with
 * bench/identity/profile.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, createTestVhost, dropRedisPrefix, redisPrefix, type TestDatabase } from '@phonegate/platform/testing';
import { freePort } from '@phonegate/stack';
import * as amqp from 'amqplib';
import { argon2id, hash, verify } from 'argon2';
import { Client } from 'pg';
import { CODE_RANGES, DestinationPool, ORDER_RANGES, randomIp } from '../sale-day/lib/numbers';
import { procStat } from '../sale-day/lib/proc';
import { CodeReader, declareEventSink } from '../lib/event-sink';

// autocannon ships no types; this is the part of its API the bench uses.
interface CannonRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (req: CannonRequest) => CannonRequest | undefined;
  onResponse?: (status: number, body: string) => void;
}
interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Seconds. */
  duration: number;
  '2xx': number;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => Promise<CannonResult>;

const ROOT = join(__dirname, '..', '..');
const REQUESTS = Number(process.env['BENCH_REQUESTS'] ?? 1000);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 16);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const IDENTITY_MAIN = process.env['BENCH_IDENTITY_MAIN'] ?? join(ROOT, 'services', 'identity', 'dist', 'main.js');
/** Another build of identity (e.g. the last commit's, copied out of the tree) measured in the same run, round by round. */
const COMPARE = process.env['BENCH_COMPARE'];
/** Which of the five steps to run, e.g. `1` (adds only) or `4,5` (sign-ins only); 2 and 3 need 1. */
const STEPS = (process.env['BENCH_STEPS'] ?? '1,2,3,4,5').split(',').map((k) => Number(k) - 1);
const API_KEY = 'bench-storefront-key';
const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };
/** The lowest argon2id cost identity's config accepts: the bench measures everything else. */
const ARGON2 = { memoryCost: 1024, timeCost: 1, parallelism: 1 };
const SETTLE_MS = 750;

const out = (line: string) => process.stdout.write(`${line}\n`);

function start(name: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(`[${name}] ${d.toString()}`));
  return child;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitReady(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fetch(url).then((r) => r.ok).catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${url} not ready in ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** CPU time (user + system, ms) a process has used. */
function cpuMs(pid: number | undefined): number {
  return (pid === undefined ? undefined : procStat(pid)?.cpuMs) ?? NaN;
}

interface Phase {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  failed: number;
  cpuPerRequest: number;
}

interface Identity {
  label: string;
  proc: ChildProcess;
  base: string;
  db: TestDatabase;
  prefix: string;
  /** Accounts without phones (one number added to each) and with two-step by SMS (one sign-in each). */
  plain: string[];
  twoStep: string[];
  idlePerMs: number;
}

async function main(): Promise<void> {
  const [otpDb, vhost] = await Promise.all([createTestDatabase('pg_bench_identity_otp'), createTestVhost('b_identity')]);
  const otpPrefix = redisPrefix();
  const busKey = randomBytes(32).toString('base64');
  const children: ChildProcess[] = [];
  const identities: Identity[] = [];
  let broker: amqp.ChannelModel | undefined;
  try {
    // The notifier's place: every event routable (bounded sink); codes collected between phases.
    broker = await amqp.connect(vhost.url);
    const ch = await broker.createChannel();
    await declareEventSink(ch, 'bench');
    const reader = new CodeReader(ch, 'bench.codes', busKey);
    /** Latest code by origin ref (the otp challenge id). */
    const codes = new Map<string, string>();
    const collectCodes = async (): Promise<void> => {
      for (const { id, code } of await reader.drain()) codes.set(id, code);
    };
    const waitCodes = async (refs: string[]): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while (refs.some((r) => !codes.has(r)) && Date.now() < deadline) {
        await collectCodes();
        await sleep(200);
      }
    };

    const otpPort = await freePort();
    const common = {
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      REDIS_URL: 'redis://127.0.0.1:6379',
      RABBITMQ_URL: vhost.url,
      API_KEYS: `${API_KEY}:storefront`,
      BUS_ENCRYPTION_KEYS: `b1:${busKey}`,
    };
    const otp = start('otp', [join(ROOT, 'services', 'otp', 'dist', 'main.js')], {
      ...common,
      PORT: String(otpPort),
      DATABASE_URL: otpDb.url,
      REDIS_KEY_PREFIX: otpPrefix,
      CODE_HMAC_KEYS: `c1:${randomBytes(32).toString('base64')}`,
      OTP_SECRET_KEYS: `s1:${randomBytes(32).toString('base64')}`,
      // The bench measures cost, not the abuse limits: open them wide.
      OTP_RESEND_COOLDOWN: '1s',
      OTP_LIMIT_DESTINATION: '1000000/1m',
      OTP_LIMIT_ACCOUNT: '1000000/1m',
      OTP_LIMIT_IP: '1000000/1m',
      OTP_LIMIT_COUNTRY: '1000000000/1m',
      OTP_COUNTRY_DAILY_CEILING: '1000000000',
      OTP_PUMP_ADJACENT_THRESHOLD: '1000',
      OTP_PUMP_RATIO_MIN_SENDS: '1000000000',
      OTP_UNREQUESTED_THRESHOLD: '100',
    });
    children.push(otp);
    await waitReady(`http://127.0.0.1:${otpPort}/health/ready`);

    const password = `bench-${randomUUID()}`;
    const seeds = new DestinationPool(ORDER_RANGES);
    const perKind = REQUESTS * ROUNDS + Math.min(500, REQUESTS);
    const nodeArgs = (process.env['BENCH_IDENTITY_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
    const builds = [{ label: 'this', main: IDENTITY_MAIN }, ...(COMPARE ? [{ label: 'compare', main: COMPARE }] : [])];
    for (const build of builds) {
      const [db, port] = [await createTestDatabase('pg_bench_identity'), await freePort()];
      const prefix = redisPrefix();
      const proc = start(build.label, [...nodeArgs, build.main], {
        ...common,
        // A build outside the repo (A/B runs) finds the repo's packages.
        NODE_PATH: join(ROOT, 'node_modules'),
        PORT: String(port),
        DATABASE_URL: db.url,
        REDIS_KEY_PREFIX: prefix,
        IDENTITY_ARGON2_MEMORY_KIB: String(ARGON2.memoryCost),
        IDENTITY_ARGON2_TIME_COST: String(ARGON2.timeCost),
        IDENTITY_ARGON2_PARALLELISM: String(ARGON2.parallelism),
        IDENTITY_SIGNIN_MAX_FAILURES_PER_ACCOUNT: '100000000',
        IDENTITY_SIGNIN_MAX_FAILURES_PER_IP: '100000000',
      });
      children.push(proc);
      const identity: Identity = { label: build.label, proc, base: `http://127.0.0.1:${port}`, db, prefix, plain: [], twoStep: [], idlePerMs: 0 };
      identities.push(identity);
      await waitReady(`${identity.base}/health/ready`);
      await seed(identity, password, perKind, seeds);
    }

    // argon2id alone at the service's parameters: subtracted from the sign-in row.
    const digest = await hash(password, { type: argon2id, ...ARGON2 });
    const argonMs = await (async () => {
      const t0 = process.cpuUsage();
      for (let i = 0; i < 200; i++) await verify(digest, password);
      const used = process.cpuUsage(t0);
      return (used.user + used.system) / 1000 / 200;
    })();

    // Idle CPU of identity (outbox relay polls, timers), subtracted from each phase.
    const idle0 = identities.map((i) => cpuMs(i.proc.pid));
    await sleep(3_000);
    identities.forEach((i, k) => (i.idlePerMs = (cpuMs(i.proc.pid) - idle0[k]!) / 3_000));

    const failures = new Set<string>();
    /** Sends one request per item (built by `build`), measuring identity's CPU. */
    const phase = async <T>(
      identity: Identity,
      name: string,
      items: T[],
      build: (item: T) => { path: string; body: unknown; headers?: Record<string, string> },
      onOk?: (body: unknown) => void,
    ): Promise<Phase> => {
      if (items.length === 0) throw new Error(`${name}: nothing to send (${[...failures].join('; ')})`);
      let next = 0;
      const t0 = Date.now();
      const c0 = cpuMs(identity.proc.pid);
      const result = await autocannon({
        url: identity.base,
        connections: CONNECTIONS,
        amount: items.length,
        // The end of a fixed-amount phase is noticed at the next sample (default 1 s: the rate read low).
        sampleInt: 50,
        timeout: 30,
        requests: [
          {
            method: 'POST',
            path: '/',
            headers: HEADERS,
            setupRequest: (req: CannonRequest) => {
              const r = build(items[next++ % items.length] as T);
              return { ...req, path: r.path, body: JSON.stringify(r.body), headers: { ...HEADERS, ...r.headers } };
            },
            // autocannon gives no request back; answers carry their own ids.
            onResponse: (status: number, body: string) => {
              if (status >= 200 && status < 300) onOk?.(body ? JSON.parse(body) : undefined);
              else if (failures.size < 5) failures.add(`${identity.label} ${name}: ${status} ${body.slice(0, 200)}`);
            },
          },
        ],
      });
      await sleep(SETTLE_MS);
      const elapsed = Date.now() - t0;
      const cpu = cpuMs(identity.proc.pid) - c0 - identity.idlePerMs * elapsed;
      return {
        name,
        rps: result.requests.total / Math.max(0.001, result.duration),
        p50: result.latency.p50,
        p99: result.latency.p99,
        ok: result['2xx'],
        failed: result.non2xx + result.errors + result.timeouts,
        cpuPerRequest: cpu / Math.max(1, result.requests.total),
      };
    };

    const numbers = new DestinationPool(CODE_RANGES);
    /**
     * One round for one identity, as five steps (add, resend, verify, challenged sign-in, its
     * code): with two builds, each step runs for both back to back, so both see the same load.
     */
    const roundSteps = (identity: Identity, n: number): (() => Promise<Phase>)[] => {
      const pending: { phoneId: string; challengeId: string; accountId: string }[] = [];
      const logins: { loginId: string; challengeId: string }[] = [];
      return [
        async () => {
          const adds = identity.plain.splice(0, n).map((accountId) => ({ accountId, number: numbers.next() }));
          const added: { phoneId: string; challengeId: string }[] = [];
          const result = await phase(
            identity,
            'add number',
            adds,
            (a) => ({ path: `/v1/accounts/${a.accountId}/phones`, body: { number: a.number, channel: 'sms' }, headers: { 'x-client-ip': randomIp() } }),
            (body) => {
              const b = body as { phoneId: string; verification: { challengeId: string } };
              added.push({ phoneId: b.phoneId, challengeId: b.verification.challengeId });
            },
          );
          // The answer names the phone, not the account: each phone's account from identity's database.
          const accountOf = await accountsOfPhones(identity.db.url, added.map((p) => p.phoneId));
          pending.push(...added.map((p) => ({ ...p, accountId: accountOf.get(p.phoneId)! })));
          return result;
        },
        async () => {
          await sleep(1_100); // otp's resend cooldown (1 s in the bench)
          return phase(identity, 'resend', pending, (p) => ({
            path: `/v1/accounts/${p.accountId}/phones/${p.phoneId}/resend`,
            body: {},
            headers: { 'x-client-ip': randomIp() },
          }));
        },
        async () => {
          await waitCodes(pending.map((p) => p.challengeId));
          return phase(
            identity,
            'verify number',
            pending.filter((p) => codes.has(p.challengeId)),
            (p) => ({ path: `/v1/accounts/${p.accountId}/phones/${p.phoneId}/verify`, body: { code: codes.get(p.challengeId) } }),
          );
        },
        () =>
          phase(
            identity,
            'sign-in (challenged)',
            identity.twoStep.splice(0, n),
            (email) => ({ path: '/v1/sessions', body: { email, password, device: { id: `dev-${randomUUID()}`, ip: randomIp(), name: 'bench' } } }),
            (body) => {
              const b = body as { loginId: string; challenge: { id: string } };
              logins.push({ loginId: b.loginId, challengeId: b.challenge.id });
            },
          ),
        async () => {
          await waitCodes(logins.map((l) => l.challengeId));
          return phase(
            identity,
            'sign-in code → token',
            logins.filter((l) => codes.has(l.challengeId)),
            (l) => ({ path: `/v1/sessions/${l.loginId}/verify`, body: { code: codes.get(l.challengeId) } }),
          );
        },
      ];
    };
    const runRound = async (n: number, flip: boolean): Promise<Map<string, Phase[]>> => {
      const order = flip ? [...identities].reverse() : identities;
      const steps = new Map(order.map((i) => [i.label, roundSteps(i, n)]));
      const results = new Map<string, Phase[]>(order.map((i) => [i.label, []]));
      for (const k of STEPS) for (const i of order) results.get(i.label)!.push(await steps.get(i.label)![k]!());
      return results;
    };

    // Warm-up (JIT, pools), then the measured rounds (with two builds, who goes first alternates).
    await runRound(Math.min(500, REQUESTS), false);
    const rounds = new Map<string, Phase[][]>(identities.map((i) => [i.label, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [label, phases] of await runRound(REQUESTS, r % 2 === 1)) rounds.get(label)!.push(phases);
    }

    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
    out(
      `\nidentity bench — ${REQUESTS} requests per phase, ${CONNECTIONS} connections, ${ROUNDS} rounds, ${cpus().length} CPUs (shared), ` +
        `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    );
    for (const b of builds) out(`  ${b.label}: ${b.main}`);
    out(`argon2id m=${ARGON2.memoryCost} KiB t=${ARGON2.timeCost}: ${argonMs.toFixed(2)} ms CPU per verification (subtracted below)`);
    out(['build round phase'.padEnd(32), 'req/s'.padStart(7), 'p50'.padStart(8), 'p99'.padStart(8), 'ok'.padStart(6), 'failed'.padStart(7), 'CPU/req'.padStart(10)].join(' '));
    for (const [label, list] of rounds) {
      list.forEach((phases, i) => {
        for (const p of phases) {
          out(
            [
              `${label} ${i + 1} ${p.name}`.padEnd(32),
              String(Math.round(p.rps)).padStart(7),
              `${p.p50} ms`.padStart(8),
              `${p.p99} ms`.padStart(8),
              String(p.ok).padStart(6),
              String(p.failed).padStart(7),
              `${p.cpuPerRequest.toFixed(2)} ms`.padStart(10),
            ].join(' '),
          );
        }
      });
    }
    out('\nmedian identity CPU per request (ms; sign-in without argon2id) and req/s:');
    const lists = [...rounds.values()];
    out(`  ${'phase'.padEnd(24)} ${[...rounds.keys()].map((l) => l.padStart(16)).join(' ')}${lists.length === 2 ? '   this/compare (median of rounds)' : ''}`);
    lists[0]![0]!.forEach(({ name }, k) => {
      const argon = name.startsWith('sign-in (') ? argonMs : 0;
      const cells = lists.map((list) => {
        const cpu = median(list.map((r) => r[k]!.cpuPerRequest)) - argon;
        return `${cpu.toFixed(2)} ms ${String(Math.round(median(list.map((r) => r[k]!.rps)))).padStart(4)}/s`.padStart(16);
      });
      const ratio =
        lists.length === 2
          ? `   ${median(lists[0]!.map((r, i) => (r[k]!.cpuPerRequest - argon) / (lists[1]![i]![k]!.cpuPerRequest - argon))).toFixed(2)}`
          : '';
      out(`  ${name.padEnd(24)} ${cells.join(' ')}${ratio}`);
    });
    const failed = [...rounds.values()].flat(2).reduce((s, p) => s + p.failed, 0);
    out(`failed answers: ${failed}${failures.size ? ` (first: ${[...failures].join('; ')})` : ''}`);
    process.exitCode = failed === 0 ? 0 : 1;
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.filter((c) => c.exitCode === null).map((c) => once(c, 'exit')));
    await broker?.close().catch(() => undefined);
    await Promise.all([
      otpDb.drop(),
      vhost.drop(),
      dropRedisPrefix(otpPrefix),
      ...identities.flatMap((i) => [i.db.drop(), dropRedisPrefix(i.prefix)]),
    ]);
  }
}

/**
 * Accounts seeded straight in identity's database, with the argon2id hash of one account made
 * through the API: `count` without phones and `count` with two-step by SMS on a verified number.
 */
async function seed(identity: Identity, password: string, count: number, numbers: DestinationPool): Promise<void> {
  const template = await fetch(`${identity.base}/v1/accounts`, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify({ email: `template-${randomUUID()}@bench.test`, password }),
  });
  if (template.status !== 201) throw new Error(`POST /v1/accounts: ${template.status} ${await template.text()}`);
  const templateId = ((await template.json()) as { id: string }).id;
  const pg = new Client({ connectionString: identity.db.url });
  await pg.connect();
  try {
    const passwordHash = (await pg.query<{ password_hash: string }>('SELECT password_hash FROM accounts WHERE id = $1', [templateId])).rows[0]!
      .password_hash;
    const insert = `INSERT INTO accounts (id, email, email_normalized, password_hash, locale, two_step_enabled, two_step_method, created_at, updated_at)
      SELECT id, id::text || '@bench.test', id::text || '@bench.test', $2, 'en', $3, $4, now(), now() FROM unnest($1::uuid[]) AS t(id)`;
    for (let i = 0; i < count; i += 5_000) {
      const n = Math.min(5_000, count - i);
      const plain = Array.from({ length: n }, () => randomUUID());
      const two = Array.from({ length: n }, () => randomUUID());
      await pg.query(insert, [plain, passwordHash, false, null]);
      await pg.query(insert, [two, passwordHash, true, 'sms']);
      await pg.query(
        `INSERT INTO phones (id, account_id, e164, country, line_type, status, is_primary, channel, created_at, verified_at)
         SELECT gen_random_uuid(), a, p, 'US', 'FIXED_LINE_OR_MOBILE', 'verified', true, 'sms', now(), now() -- +1212 (ORDER_RANGES)
         FROM unnest($1::uuid[], $2::text[]) AS x(a, p)`,
        [two, two.map(() => numbers.next())],
      );
      identity.plain.push(...plain);
      identity.twoStep.push(...two.map((id) => `${id}@bench.test`));
    }
    await pg.query('ANALYZE');
  } finally {
    await pg.end();
  }
}

/** The account of each phone just added, from identity's database. */
async function accountsOfPhones(url: string, phoneIds: string[]): Promise<Map<string, string>> {
  const pg = new Client({ connectionString: url });
  await pg.connect();
  try {
    const { rows } = await pg.query<{ id: string; account_id: string }>('SELECT id, account_id FROM phones WHERE id = ANY($1::uuid[])', [phoneIds]);
    return new Map(rows.map((r) => [r.id, r.account_id]));
  } finally {
    await pg.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`identity bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
