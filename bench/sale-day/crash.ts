/**
 * Sale day, scenario 3 — crash drills: under a steady load of code requests, one fault after
 * another, each followed by its restart: SIGKILL of each service (identity, otp, notifier,
 * delivery-otp) restarted after a couple of seconds; RabbitMQ's app stopped for 10 s
 * (`rabbitmqctl stop_app` / `start_app`); Redis stopped cleanly (SIGTERM) and killed (SIGKILL)
 * and started again after 5 s. For each: requests failed with a clear error (problem+json, by
 * status and code) and without one (no answer, 502/504, not a problem), time to recover (from
 * the fault's end to the first SMS at the simulator again, and to no more errors), accepted
 * requests lost, duplicate SMS, SMS sent after expiry. Targets: 0 lost, recovery under 10 s.
 *
 *   npm run build && node bench/run-ts.js bench/sale-day/crash.ts [--smoke|--quick]
 *
 * The stack runs on a Redis of its own (append-only file, fsync every second, as deployments run
 * it) on a free port, never the machine's shared 6379. RabbitMQ is the machine's, shared with
 * everyone: its drill is in the default list but not in --smoke; it is always started again
 * (finally, and on exit / Ctrl-C).
 *
 * Flags: --rate=<n> (default 150; --smoke 40) --drills=<list> (default all: control (no fault), kill-identity,
 * kill-otp, kill-notifier, kill-delivery-otp, rabbitmq, redis-term, redis-kill; --smoke
 * kill-notifier,redis-kill) --down=<s> (service down, default 2) --rabbit-down=<s> (10)
 * --redis-down=<s> (5) --before=<s> (load before the fault, 5; --smoke 3) --after=<s> (load
 * after the restart began, default 20; --smoke 10) --settle=<s> (wait for late SMS, 60; --smoke
 * 20) --pause=<s> (between drills, 3) --log-level --json
 */
import type { Upstream } from '@phonegate/gateway';
import {
  loadAverage,
  out,
  parseArgs,
  phaseJson,
  prepareLoad,
  printPhase,
  runPhase,
  runScenario,
  type SmsTracker,
  sleep,
  startFromArgs,
  table,
} from './lib';
import { type DrillFigures, type DrillWindow, QUIET_MS, RabbitOutage, analyzeDrill } from './lib/drills';
import type { CodeKind } from './lib/mix';
import type { TrackedRequest } from './lib/tracker';
import { type PrivateRedis, startPrivateRedis } from './lib/private-redis';
import type { BenchStack } from './lib/bench-stack';

const ALL_DRILLS = [
  'control',
  'kill-identity',
  'kill-otp',
  'kill-notifier',
  'kill-delivery-otp',
  'rabbitmq',
  'redis-term',
  'redis-kill',
] as const;
type DrillName = (typeof ALL_DRILLS)[number];

/** The request kinds whose path goes through each faulted component. */
const TOUCHED: Record<DrillName, readonly CodeKind[] | 'all'> = {
  control: 'all',
  'kill-identity': ['phone_add', 'sign_in'],
  'kill-otp': ['verification', 'resend', 'phone_add', 'sign_in'],
  'kill-notifier': 'all',
  'kill-delivery-otp': ['out_for_delivery'],
  rabbitmq: 'all',
  'redis-term': 'all',
  'redis-kill': 'all',
};

const RECOVERY_TARGET_S = 10;

interface DrillResult {
  name: DrillName;
  title: string;
  window: DrillWindow;
  figures: DrillFigures;
  note: string;
  codes: CodeCheck;
}

async function main(): Promise<void> {
  const args = parseArgs();
  const smoke = args.flag('smoke');
  const quick = args.flag('quick');
  const rate = args.number('rate', smoke ? 40 : 150);
  const drills = (args.list('drills') ?? (smoke ? ['kill-notifier', 'redis-kill'] : [...ALL_DRILLS])) as DrillName[];
  for (const d of drills) if (!ALL_DRILLS.includes(d)) throw new Error(`unknown drill ${d}; known: ${ALL_DRILLS.join(', ')}`);
  const downS = args.number('down', 2);
  const rabbitDownS = args.number('rabbit-down', 10);
  const redisDownS = args.number('redis-down', 5);
  const beforeS = args.number('before', smoke ? 3 : 5);
  const afterS = args.number('after', smoke ? 10 : quick ? 15 : 20);
  const settleS = args.number('settle', smoke ? 20 : 60);
  const pauseS = args.number('pause', 3);
  // The fault and its restart, roughly, so the load covers them and `after` seconds beyond.
  const faultS = (d: DrillName) =>
    d === 'control' ? 0 : d.startsWith('kill-') ? downS + 5 : d === 'rabbitmq' ? rabbitDownS + 10 : redisDownS + 1;

  out(`sale day — crash drills (scenario 3) — ${new Date().toISOString()}, load average ${loadAverage()}`);
  out(
    `${rate} code requests/s; drills: ${drills.join(', ')}; load ${beforeS} s before each fault and ${afterS} s after its restart began; ` +
      `targets: 0 accepted requests lost, recovery < ${RECOVERY_TARGET_S} s`,
  );

  const rabbit = new RabbitOutage();
  const redis = await startPrivateRedis();
  let bench: BenchStack | undefined;
  // Whatever happens (an exception, Ctrl-C), the private Redis and its directory go, the
  // services are not left behind, and RabbitMQ's app is started again (RabbitOutage's own guard).
  process.on('exit', () => {
    for (const s of Object.values(bench?.stack.services ?? {})) s.child?.kill('SIGKILL');
    bench?.stack.sim.handle.child?.kill('SIGKILL');
    redis.removeSync();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  out(`private Redis ${redis.url} (appendonly yes, appendfsync everysec, noeviction, save "", dir ${redis.dir}; log ${redis.logFile})`);

  let tracker: SmsTracker | undefined;
  const results: DrillResult[] = [];
  try {
    bench = await startFromArgs(args, { redisUrl: redis.url });
    const b = bench;
    out(`stack ${b.stack.namespace} up; logs in artifacts/stack/${b.stack.namespace}/`);
    const planned = drills.reduce((n, d) => n + rate * (beforeS + faultS(d) + afterS), 0);
    const ctx = await prepareLoad(b, { plannedRequests: planned, smoke });
    tracker = ctx.tracker;

    for (const name of drills) {
      const drill = drillOf(name, b, redis, rabbit, { downS, rabbitDownS, redisDownS });
      let window: DrillWindow | undefined;
      let note = '';
      let loadStart = 0;
      let readiness = '';
      const durationMs = (beforeS + faultS(name) + afterS) * 1000;
      out(`\n### drill ${name}: ${drill.title}`);
      const phase = await runPhase(b, ctx, {
        label: name,
        rate,
        durationMs,
        settleMs: settleS * 1000,
        during: async (elapsed) => {
          loadStart = Date.now() - elapsed();
          await sleep(Math.max(0, beforeS * 1000 - elapsed()));
          const watch = watchReadiness(b);
          const r = await drill.run((line) =>
            out(`  [${name}] t=${(elapsed() / 1000).toFixed(1)}s ${new Date().toISOString().slice(11, 23)} ${line}`),
          );
          readiness = await watch.stop(r.window);
          window = r.window;
          note = r.note;
        },
      });
      const loadEnd = loadStart + durationMs;
      if (!window) throw new Error(`drill ${name} did not run`);
      const figures = analyzeDrill(ctx.tracker.requests(), window, TOUCHED[name], loadEnd);
      const codes = await checkCodesBeforeFault(b, ctx.tracker.requests(), window);
      printPhase(phase, { perProcess: false });
      printDrill(name, drill.title, window, figures, note);
      if (readiness) out(`services' /health/ready: ${readiness}`);
      out(
        `codes sent in the ${CODE_CHECK_WINDOW_MS / 1000} s before the fault, checked after it: ${codes.approved}/${codes.checked} approved` +
          (codes.other.length ? ` (others: ${codes.other.join(', ')})` : ''),
      );
      if (args.flag('json')) out(JSON.stringify({ ...phaseJson(phase), drill: name, figures: { ...figures, timeline: undefined } }));
      results.push({ name, title: drill.title, window, figures, note, codes });
      await ensureUp(b);
      await sleep(pauseS * 1000);
    }
  } finally {
    await tracker?.stop();
    rabbit.startSync();
    if (bench) await bench.stop().catch((error: unknown) => out(`stack stop: ${String(error)}`));
    await redis.remove();
  }

  out(`\n== crash drills: summary (${rate} code requests/s; load average at the end ${loadAverage()})`);
  const s = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(1)} s`);
  out(
    table(
      ['drill', 'failed clearly', 'unclear', 'recovery: first SMS / errors gone', 'later failures', 'SMS gap', 'lost', 'duplicates', 'after expiry', 'SMS despite error', 'codes still valid', 'slowest answer'],
      results.map(({ name, figures: f, codes }) => [
        name,
        f.clearTotal,
        f.unclearTotal,
        name === 'control' ? '-' : `${s(f.firstSmsS)} / ${f.stillFailing ? 'still failing' : s(f.errorsGoneS)}`,
        f.laterFailures,
        s(f.smsGapS),
        f.lost,
        f.duplicates,
        f.afterExpiry,
        f.arrivedDespiteError,
        `${codes.approved}/${codes.checked}`,
        `${(f.slowestMs / 1000).toFixed(1)} s`,
      ]),
    ),
  );
  const lost = results.reduce((n, r) => n + r.figures.lost, 0);
  const slow = results.filter(
    (r) => r.name !== 'control' && (r.figures.stillFailing || (r.figures.firstSmsS ?? Infinity) >= RECOVERY_TARGET_S || r.figures.errorsGoneS >= RECOVERY_TARGET_S),
  );
  const unclear = results.filter((r) => r.figures.unclearTotal > 0);
  out(`target 0 accepted requests lost: ${lost === 0 ? 'MET' : `MISSED (${lost})`}`);
  out(
    `target recovery < ${RECOVERY_TARGET_S} s (first SMS and errors gone): ${slow.length === 0 ? 'MET' : `MISSED (${slow.map((r) => r.name).join(', ')})`}`,
  );
  const forgotten = results.filter((r) => r.codes.approved < r.codes.checked);
  out(`codes sent before a fault still valid after it: ${forgotten.length === 0 ? 'yes' : `no (${forgotten.map((r) => r.name).join(', ')})`}`);
  out(`every failure answered clearly (problem+json): ${unclear.length === 0 ? 'yes' : `no (${unclear.map((r) => r.name).join(', ')})`}`);
  out(`duplicate SMS: ${results.reduce((n, r) => n + r.figures.duplicates, 0)} (${results.filter((r) => r.figures.duplicates).map((r) => `${r.name} ${JSON.stringify(r.figures.duplicatesByKind)}`).join(', ') || 'none'})`);
  if (lost > 0 || slow.length > 0) process.exitCode = 1;
}

interface Drill {
  title: string;
  run(log: (line: string) => void): Promise<{ window: DrillWindow; note: string }>;
}

function drillOf(
  name: DrillName,
  bench: BenchStack,
  redis: PrivateRedis,
  rabbit: RabbitOutage,
  o: { downS: number; rabbitDownS: number; redisDownS: number },
): Drill {
  if (name === 'control') {
    return {
      title: 'no fault: the same load, for the errors and delays this machine shows anyway',
      async run() {
        const now = Date.now();
        return { window: { faultStart: now, faultEnd: now, readyAt: now }, note: 'no fault' };
      },
    };
  }
  if (name.startsWith('kill-')) {
    const service = name.slice('kill-'.length) as Upstream;
    return {
      title: `SIGKILL ${service} under load, start it again after ${o.downS} s`,
      async run(log) {
        const faultStart = Date.now();
        await bench.stack.kill(service, 'SIGKILL');
        log(`${service} killed`);
        await sleep(o.downS * 1000);
        const faultEnd = Date.now();
        log(`starting ${service}`);
        await bench.stack.start(service);
        const readyAt = Date.now();
        log(`${service} ready after ${((readyAt - faultEnd) / 1000).toFixed(1)} s`);
        return { window: { faultStart, faultEnd, readyAt }, note: `ready ${((readyAt - faultEnd) / 1000).toFixed(1)} s after the restart began` };
      },
    };
  }
  if (name === 'rabbitmq') {
    return {
      title: `rabbitmqctl stop_app, ${o.rabbitDownS} s, rabbitmqctl start_app`,
      async run(log) {
        const faultStart = Date.now();
        let faultEnd = faultStart;
        try {
          await rabbit.stop();
          log(`stop_app done in ${((Date.now() - faultStart) / 1000).toFixed(1)} s`);
          await sleep(o.rabbitDownS * 1000);
        } finally {
          faultEnd = Date.now();
          log('start_app');
          await rabbit.start();
        }
        const readyAt = Date.now();
        log(`RabbitMQ up after ${((readyAt - faultEnd) / 1000).toFixed(1)} s`);
        return {
          window: { faultStart, faultEnd, readyAt },
          note: `start_app took ${((readyAt - faultEnd) / 1000).toFixed(1)} s`,
        };
      },
    };
  }
  const signal = name === 'redis-term' ? 'SIGTERM' : 'SIGKILL';
  return {
    title: `Redis (private, appendonly everysec) ${signal === 'SIGTERM' ? 'stopped cleanly (SIGTERM)' : 'killed (SIGKILL)'}, started again after ${o.redisDownS} s`,
    async run(log) {
      const keysBefore = await redis.dbsize();
      const faultStart = Date.now();
      await redis.stop(signal);
      log(`redis ${signal}, ${keysBefore} keys before`);
      await sleep(o.redisDownS * 1000);
      const faultEnd = Date.now();
      await redis.start();
      const readyAt = Date.now();
      const keysAfter = await redis.dbsize();
      log(`redis up after ${((readyAt - faultEnd) / 1000).toFixed(1)} s, ${keysAfter} keys`);
      return {
        window: { faultStart, faultEnd, readyAt },
        note: `keys ${keysBefore} before the fault, ${keysAfter} after the restart (AOF reload)`,
      };
    },
  };
}

/**
 * Polls every service's /health/ready (every 200 ms) from the fault on: when each said it was not
 * ready, and when it was ready again (polling goes on after the drill until all are, at most 30 s).
 */
function watchReadiness(bench: BenchStack): { stop(w: DrillWindow): Promise<string> } {
  const services = Object.entries(bench.stack.services);
  const state = new Map<string, { downAt?: number; upAt?: number }>(services.map(([name]) => [name, {}]));
  let stopAt: number | undefined;
  const loop = (async () => {
    for (;;) {
      await Promise.all(
        services.map(async ([name, handle]) => {
          const ok = await fetch(`${handle.url}/health/ready`, { signal: AbortSignal.timeout(1_000) })
            .then((r) => r.ok)
            .catch(() => false);
          const s = state.get(name)!;
          if (!ok) {
            s.downAt ??= Date.now();
            delete s.upAt;
          } else if (s.downAt !== undefined) s.upAt ??= Date.now();
        }),
      );
      const allUp = [...state.values()].every((s) => s.downAt === undefined || s.upAt !== undefined);
      if (stopAt !== undefined && (allUp || Date.now() - stopAt > 30_000)) return;
      await sleep(200);
    }
  })();
  return {
    async stop(w) {
      stopAt = Date.now();
      await loop;
      const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
      return [...state]
        .map(([name, s]) =>
          s.downAt === undefined
            ? `${name} always ready`
            : `${name} not ready from fault + ${sec(s.downAt - w.faultStart)}, ready again ${
                s.upAt === undefined ? 'not within 30 s' : `${sec(s.upAt - w.readyAt)} after the component was back`
              }`,
        )
        .join('; ');
    },
  };
}

const CODE_CHECK_WINDOW_MS = 3_000;

interface CodeCheck {
  checked: number;
  approved: number;
  /** Answers other than approved, `status code`. */
  other: string[];
}

/**
 * The codes of verifications accepted in the seconds before the fault (their state written just
 * before it) are checked after the drill, with the code their SMS carried: a restart must not
 * forget a live code (SECURITY R3). Only destinations with one request (no resend changed the code).
 */
async function checkCodesBeforeFault(
  bench: BenchStack,
  requests: readonly TrackedRequest[],
  w: DrillWindow,
  max = 30,
): Promise<CodeCheck> {
  const perDestination = new Map<string, number>();
  for (const r of requests) perDestination.set(r.destination, (perDestination.get(r.destination) ?? 0) + 1);
  const sample = requests
    .filter(
      (r) =>
        r.kind === 'verification' &&
        r.state === 'accepted' &&
        r.ref !== undefined &&
        r.code !== undefined &&
        perDestination.get(r.destination) === 1 &&
        r.requestedAt >= w.faultStart - CODE_CHECK_WINDOW_MS &&
        r.requestedAt < w.faultStart,
    )
    .slice(-max);
  const result: CodeCheck = { checked: 0, approved: 0, other: [] };
  for (const r of sample) {
    const res = await fetch(`${bench.stack.gatewayUrl}/v1/verifications/${r.ref}/check`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bench.stack.keys.storefront}` },
      body: JSON.stringify({ code: r.code }),
    });
    const body = (await res.json().catch(() => ({}))) as { status?: string; code?: string };
    result.checked++;
    if (res.status === 200 && body.status === 'approved') result.approved++;
    else result.other.push(`${res.status} ${body.code ?? body.status ?? '-'}`);
  }
  return result;
}

/** Every service answers /health/ready before the next drill (a drill may leave one down). */
async function ensureUp(bench: BenchStack): Promise<void> {
  for (const [name, handle] of Object.entries(bench.stack.services)) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ok = await fetch(`${handle.url}/health/ready`, { signal: AbortSignal.timeout(1_000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) {
        out(`  ${name} not ready 30 s after the drill: restarting it`);
        await bench.stack.kill(name as Upstream, 'SIGKILL');
        await bench.stack.start(name as Upstream);
        break;
      }
      await sleep(500);
    }
  }
}

function printDrill(name: DrillName, title: string, w: DrillWindow, f: DrillFigures, note: string): void {
  const s = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(1)} s`);
  const list = (o: Record<string, number>) =>
    Object.entries(o)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ') || 'none';
  out(`\n-- ${name}: ${title}`);
  const at = (ms: number) => new Date(ms).toISOString().slice(11, 23);
  out(`fault ${at(w.faultStart)} → ${at(w.faultEnd)} (${((w.faultEnd - w.faultStart) / 1000).toFixed(1)} s), back ${at(w.readyAt)}: restart to ready ${((w.readyAt - w.faultEnd) / 1000).toFixed(1)} s; ${note}`);
  out(`failed with a clear error (from the fault on): ${f.clearTotal} (${list(f.clear)})`);
  out(`failed unclearly (no answer, 502/504, not a problem): ${f.unclearTotal} (${list(f.unclear)})`);
  for (const u of f.unclearSamples)
    out(`  unclear: ${u.kind} sent at t=${u.t.toFixed(2)} s, ${u.what} after ${Math.round(u.ms)} ms`);
  if (f.before) out(`failures before the fault (steady load): ${f.before}`);
  out(
    `recovery from the fault's end: first SMS ${s(f.firstSmsS)}, errors gone ${f.stillFailing ? 'no: still failing at the end of the load' : s(f.errorsGoneS)} ` +
      `(no failure for ${QUIET_MS / 1000} s after; failures later: ${f.laterFailures}); ` +
      `longest time without an SMS of the touched kinds ${s(f.smsGapS)}; slowest answer ${(f.slowestMs / 1000).toFixed(1)} s (${f.over5s} over 5 s)`,
  );
  for (const u of f.slowSamples)
    out(`  slow: ${u.kind} sent at t=${u.t.toFixed(2)} s, ${u.what} after ${Math.round(u.ms)} ms`);
  out(
    `lost (accepted, no SMS): ${f.lost} (past expiry ${f.lostExpired}) · duplicates ${f.duplicates} ${f.duplicates ? JSON.stringify(f.duplicatesByKind) : ''}· ` +
      `sent after expiry ${f.afterExpiry} · SMS despite an error answer ${f.arrivedDespiteError}` +
      (f.arrivedDespiteError ? ` (${list(f.despiteErrorByKind)})` : ''),
  );
  const last = Math.max(
    ...f.timeline.map((r, i) => (r.clear + r.unclear > 0 ? i : 0)),
    Math.ceil((w.readyAt - w.faultStart) / 1000) + 4,
  );
  out(
    table(
      ['t (s from the fault)', 'sent', 'accepted', 'failed clear', 'unclear', 'SMS (touched kinds, by arrival)'],
      f.timeline.slice(0, last + 3).map((r) => [r.t, r.sent, r.accepted, r.clear, r.unclear, r.sms]),
    ),
  );
}

runScenario('crash', main);
