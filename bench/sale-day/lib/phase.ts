/**
 * One timed phase: drive the code mix at a rate through the gateway, track every request to the
 * simulator, and measure CPU / RSS of every process meanwhile. What the scenarios are built of.
 */
import type { BenchStack, DbStats, TableStats } from './bench-stack';
import { type DriveResult, drive } from './driver';
import { CodeMix, type MixAccounts, type CodeKind } from './mix';
import type { DestinationPool } from './numbers';
import { type GroupUsage, loadAverage } from './proc';
import { ms, out, summarize, table } from './stats';
import { SmsTracker, type TrackerReport } from './tracker';

export interface PhaseOptions {
  label: string;
  /** Requests a second (or a function of elapsed ms). */
  rate: number | ((elapsedMs: number) => number);
  durationMs: number;
  /** How long to wait after the load for SMS still on their way. Default 30 s. */
  settleMs?: number;
  shares?: Partial<Record<CodeKind, number>>;
  /** Things to do while the load runs (carrier knobs, crashes); awaited before settling. */
  during?: (elapsed: () => number) => Promise<void>;
  /** Print a line a second. Default true. */
  live?: boolean;
}

export interface PhaseResult {
  label: string;
  targetRate: number;
  drive: DriveResult;
  sms: TrackerReport;
  usage: GroupUsage[];
  loadAverage: string;
  mix: string;
  /** Tables read by sequential scans during the phase (most rows first). */
  seqScans: { table: string; scans: number; rowsRead: number }[];
  /** Tables by index entries read during the phase, per accepted request (most first). */
  indexReads: { table: string; entriesPerRequest: number; fetchedPerRequest: number }[];
  /** Per service: database work per accepted code request. */
  db: Record<string, { transactions: number; rowsWritten: number; rowsRead: number }>;
}

/** Runs a phase; the tracker, mix and pools are shared across phases of one scenario. */
export async function runPhase(
  bench: BenchStack,
  ctx: { tracker: SmsTracker; accounts: MixAccounts; numbers: DestinationPool },
  options: PhaseOptions,
): Promise<PhaseResult> {
  const { tracker } = ctx;
  tracker.reset();
  const mix = new CodeMix({
    keys: { storefront: bench.stack.keys.storefront, logistics: bench.stack.keys.logistics },
    accounts: ctx.accounts,
    numbers: ctx.numbers,
    tracker,
    ...(options.shares ? { shares: options.shares } : {}),
  });
  // The database figures are a side view: a shared PostgreSQL out of connections ("too many
  // clients", other people's stacks on the machine) must not end the scenario.
  const dbBefore: Record<string, DbStats> = await bench.dbStats().catch(() => ({}));
  const tablesBefore = await bench.tableStats().catch(() => [] as TableStats[]);
  const before = bench.meter.mark();
  bench.meter.startSampling(1_000);
  let arrivedLastSecond = 0;
  tracker.onArrival = () => arrivedLastSecond++;
  const started = Date.now();
  const during = options.during?.(() => Date.now() - started);
  const result = await drive({
    baseUrl: bench.stack.gatewayUrl,
    rate: options.rate,
    durationMs: options.durationMs,
    next: (sentAt) => mix.next(sentAt),
    onSecond: (s) => {
      if (options.live === false) return;
      out(
        `  [${options.label}] t=${String(s.second).padStart(3)}s sent ${String(s.sent).padStart(5)}/s answered ${String(s.answered).padStart(5)}/s sms ${String(arrivedLastSecond).padStart(5)}/s in flight ${s.inFlight}`,
      );
      arrivedLastSecond = 0;
    },
  });
  const afterLoad = bench.meter.mark();
  const load = loadAverage();
  await during;
  await tracker.settle(options.settleMs ?? 30_000);
  bench.meter.stopSampling();
  const dbAfter = await bench.dbStats().catch(() => dbBefore);
  const accepted = Math.max(1, tracker.report().accepted);
  const tablesAfter = await bench.tableStats().catch(() => tablesBefore);
  const seqScans = tablesAfter
    .map((t) => {
      const b = tablesBefore.find((x) => x.service === t.service && x.table === t.table);
      return {
        table: `${t.service}.${t.table}`,
        scans: t.seqScans - (b?.seqScans ?? 0),
        rowsRead: t.seqRowsRead - (b?.seqRowsRead ?? 0),
      };
    })
    .filter((t) => t.rowsRead > 0)
    .sort((a, b) => b.rowsRead - a.rowsRead);
  const indexReads = tablesAfter
    .map((t) => {
      const b = tablesBefore.find((x) => x.service === t.service && x.table === t.table);
      return {
        table: `${t.service}.${t.table}`,
        entriesPerRequest: (t.indexEntriesRead - (b?.indexEntriesRead ?? 0)) / accepted,
        fetchedPerRequest: (t.indexRowsFetched - (b?.indexRowsFetched ?? 0)) / accepted,
      };
    })
    .filter((t) => t.entriesPerRequest > 0)
    .sort((a, b) => b.entriesPerRequest - a.entriesPerRequest);
  const db: PhaseResult['db'] = {};
  for (const [service, a] of Object.entries(dbAfter)) {
    const b = dbBefore[service] ?? { transactions: 0, rowsWritten: 0, rowsRead: 0 };
    db[service] = {
      transactions: (a.transactions - b.transactions) / accepted,
      rowsWritten: (a.rowsWritten - b.rowsWritten) / accepted,
      rowsRead: (a.rowsRead - b.rowsRead) / accepted,
    };
  }
  tracker.onArrival = undefined;
  const targetRate =
    typeof options.rate === 'number' ? options.rate : result.sent / (options.durationMs / 1000);
  return {
    label: options.label,
    targetRate,
    drive: result,
    sms: tracker.report(),
    usage: bench.meter.usage(before, afterLoad),
    loadAverage: load,
    mix: mix.describe(),
    db,
    seqScans,
    indexReads,
  };
}

/** Prints a phase: throughput, latency by kind, errors, losses, CPU and RSS per process. */
export function printPhase(r: PhaseResult, options: { perProcess?: boolean } = {}): void {
  const s = r.sms;
  out(`\n== ${r.label}: target ${Math.round(r.targetRate)}/s for ${r.drive.seconds}s (load average ${r.loadAverage})`);
  out(`mix: ${r.mix}`);
  out(
    `sent ${r.drive.sent} (${Math.round(r.drive.sentPerSecond)}/s), shed by the driver ${r.drive.shed}, ` +
      `accepted ${s.accepted} (${Math.round(s.accepted / r.drive.seconds)}/s), failed ${s.failed}, ` +
      `HTTP p50/p99 ${ms(r.drive.httpLatency.p50)}/${ms(r.drive.httpLatency.p99)}, driver lag p99 ${ms(r.drive.sendLag.p99)}`,
  );
  out(
    table(
      ['request → simulator', 'sent', 'accepted', 'arrived', 'p50', 'p95', 'p99', 'max'],
      [
        ...s.byKind.map((k) => [
          k.kind,
          k.sent,
          k.accepted,
          k.arrived,
          ms(k.latency.p50),
          ms(k.latency.p95),
          ms(k.latency.p99),
          ms(k.latency.max),
        ]),
        ['all', s.sent, s.accepted, s.arrived, ms(s.latency.p50), ms(s.latency.p95), ms(s.latency.p99), ms(s.latency.max)],
      ],
    ),
  );
  const errors = Object.entries(s.errors)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
  out(`errors by status and code: ${errors || 'none'}`);
  out(
    `lost (accepted, not arrived): ${s.notArrived} (of which past expiry ${s.notArrivedExpired}) · duplicates ${s.duplicates} · ` +
      `sent after expiry ${s.sentAfterExpiry} · arrived despite an error answer ${s.arrivedDespiteError} · unmatched ${s.unexpected} · feed missed ${s.missedByFeed}`,
  );
  const carriers = Object.entries(s.byCarrier)
    .map(([c, n]) => `${c} ${n} (${((100 * n) / Math.max(1, s.arrived)).toFixed(1)}%)`)
    .join(', ');
  out(`code SMS by carrier: ${carriers || '-'}`);
  if (options.perProcess !== false) printUsage(r.usage, r.drive.seconds, s.accepted);
  out(
    `PostgreSQL per accepted code request (all requests, whichever service they touch): ` +
      Object.entries(r.db)
        .map(
          ([svc, d]) =>
            `${svc} ${d.transactions.toFixed(1)} tx, ${d.rowsWritten.toFixed(1)} rows written, ${d.rowsRead.toFixed(0)} read`,
        )
        .join(' · '),
  );
  if (r.indexReads.length)
    out(
      `index entries read per accepted request (dead ones included; live rows fetched): ` +
        r.indexReads
          .slice(0, 5)
          .map((t) => `${t.table} ${t.entriesPerRequest.toFixed(1)} (${t.fetchedPerRequest.toFixed(1)})`)
          .join(' · '),
    );
  if (r.seqScans.length)
    out(
      `sequential scans (rows read): ` +
        r.seqScans
          .slice(0, 5)
          .map((t) => `${t.table} ${t.scans} scans, ${t.rowsRead} rows`)
          .join(' · '),
    );
}

export const MACHINE = 'machine (all processes)';
const INFRA = ['rabbitmq', 'redis', 'postgres'];

export function printUsage(all: GroupUsage[], seconds: number, accepted: number): void {
  const machine = all.find((u) => u.name === MACHINE);
  const usage = all.filter((u) => u.name !== MACHINE);
  out(
    table(
      ['process', 'CPU (cores)', 'CPU ms / item', 'wake-ups / item', 'RSS MB', 'peak RSS MB'],
      usage.map((u) => [
        u.name,
        u.cores.toFixed(2),
        accepted ? (u.cpuMs / accepted).toFixed(2) : '-',
        accepted ? (u.switches / accepted).toFixed(1) : '-',
        u.rssMb.toFixed(0),
        u.peakRssMb.toFixed(0),
      ]),
    ),
  );
  const sum = usage.reduce((n, u) => n + u.cpuMs, 0);
  const ours = usage.filter((u) => !INFRA.includes(u.name)).reduce((n, u) => n + u.cpuMs, 0);
  // Over the measured interval (the load plus waiting for its last answers), not the load alone.
  const measured = usage[0]?.seconds ?? seconds;
  const cores = (x: number) => (x / 1000 / measured).toFixed(2);
  out(
    `CPU over ${measured.toFixed(1)} s (the ${seconds.toFixed(0)} s load and its last answers): listed ${cores(sum)} cores ` +
      `(platform processes ${cores(ours)}, infrastructure ${cores(sum - ours)}); ` +
      `${accepted ? (sum / accepted).toFixed(2) : '-'} ms CPU per item (accepted code request or message)` +
      (machine
        ? `; machine busy ${cores(machine.cpuMs)} of 2 cores, of which not listed (other users, kernel) ${cores(Math.max(0, machine.cpuMs - sum))}`
        : ''),
  );
}

/** A compact JSON line of a phase, for docs and comparisons. */
export function phaseJson(r: PhaseResult): Record<string, unknown> {
  return {
    label: r.label,
    target: Math.round(r.targetRate),
    sentPerSecond: Math.round(r.drive.sentPerSecond),
    acceptedPerSecond: Math.round(r.sms.accepted / r.drive.seconds),
    p50: Math.round(r.sms.latency.p50),
    p95: Math.round(r.sms.latency.p95),
    p99: Math.round(r.sms.latency.p99),
    failed: r.sms.failed,
    lost: r.sms.notArrived,
    duplicates: r.sms.duplicates,
    sentAfterExpiry: r.sms.sentAfterExpiry,
    load: r.loadAverage,
  };
}

export { summarize };
