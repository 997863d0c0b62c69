/**
 * Sale day, scenario 1 — steady: the code mix at rising rates through the gateway, every SMS
 * followed to the carrier simulator. Finds the highest rate that meets the target (p99 request →
 * simulator under 150 ms, ≥ 99 % accepted, nothing lost) and prints CPU and RSS of every process
 * at that rate. Floors, measured in the same run: the simulator's raw SMPP accept rate, and a
 * pipeline floor (lib/floor-server.ts: HTTP → Redis → confirmed publish → consume → SMPP, the
 * least any implementation does) driven at the same rates.
 *
 *   npm run build && node bench/run-ts.js bench/sale-day/steady.ts [--quick|--smoke]
 *
 * Flags: --rates=100,200,…  --step=<s> (per rate, default 20; --quick 8; --smoke one 5 s step at
 * 30/s)  --floor-rates=400,700,… (default: --rates)  --settle=<s> (default 20)  --log-level=warn  --profile=otp,notifier (--cpu-prof; the
 * profile is written when the stack stops)  --p99=<ms> (default 150)  --no-floor  --json
 */
import {
  BENCH_CARRIERS,
  BENCH_ENV,
  KIND_ROUTES,
  loadAverage,
  ms,
  out,
  parseArgs,
  type PhaseResult,
  phaseJson,
  prepareLoad,
  printPhase,
  printUsage,
  runFloorPhase,
  runPhase,
  runScenario,
  type SmsTracker,
  sleep,
  startFromArgs,
  startPipelineFloor,
  table,
} from './lib';

const TARGET_RATE = 1_000;

async function main(): Promise<void> {
  const args = parseArgs();
  const smoke = args.flag('smoke');
  const quick = args.flag('quick');
  const p99Target = args.number('p99', 150);
  const rates = (
    args.list('rates') ??
    (smoke ? ['30'] : quick ? ['50', '100', '200', '400'] : ['50', '75', '100', '150', '200', '300', '400', '600', '800', '1000'])
  ).map(Number);
  // The pipeline floor's own rates (default: the platform's), e.g. to find where the floor itself stops.
  const floorRates = (args.list('floor-rates') ?? rates.map(String)).map(Number);
  const stepS = args.number('step', smoke ? 5 : quick ? 8 : 20);
  const settleMs = args.number('settle', smoke ? 10 : 20) * 1000;

  out(`sale day — steady (scenario 1) — ${new Date().toISOString()}, load average ${loadAverage()}`);
  out(`target: ≥ ${TARGET_RATE} code requests/s with p99 request → simulator < ${p99Target} ms; each service < 200 MB RSS`);
  const bench = await startFromArgs(args);
  out(`stack ${bench.stack.namespace} up; bench settings: ${JSON.stringify(BENCH_ENV.otp)} carriers ${JSON.stringify(BENCH_CARRIERS)}`);
  out('mix routes:');
  for (const [kind, route] of Object.entries(KIND_ROUTES)) out(`  ${kind.padEnd(17)} ${route}`);
  let tracker: SmsTracker | undefined;
  try {
    const load = await prepareLoad(bench, { plannedRequests: rates.reduce((n, r) => n + r * stepS, 0), smoke });
    tracker = load.tracker;
    const floor = load.smppFloor;
    const ctx = load;

    // The stack doing nothing: what timers, pollers and sweeps cost before any request.
    const idleFrom = bench.meter.mark();
    await sleep(smoke ? 3_000 : 10_000);
    const idle = bench.meter.usage(idleFrom, bench.meter.mark());
    out(
      `idle stack (no load, ${idle[0]?.seconds.toFixed(0)} s): ` +
        idle
          .filter((u) => !u.name.startsWith('machine'))
          .map((u) => `${u.name} ${u.cores.toFixed(3)}`)
          .join(', ') +
        ` cores; machine busy ${idle.find((u) => u.name.startsWith('machine'))?.cores.toFixed(2)} (others included)`,
    );

    const results: PhaseResult[] = [];
    let best: PhaseResult | undefined;
    for (const rate of rates) {
      const r = await runPhase(bench, ctx, { label: `steady ${rate}/s`, rate, durationMs: stepS * 1000, settleMs });
      printPhase(r);
      results.push(r);
      const ok = meets(r, p99Target);
      out(`verdict at ${rate}/s: ${ok ? 'MEETS' : 'misses'} the target (p99 < ${p99Target} ms, ≥ 99 % accepted, none lost, rate offered)`);
      if (ok) best = r;
      // Far past the knee: stop instead of queueing minutes of backlog.
      if (!ok && (r.sms.latency.p99 > 5 * p99Target || r.sms.failed > r.sms.sent * 0.05)) break;
      await sleep(2_000);
    }

    // The pipeline floor at the same rates: the least any implementation does on this machine.
    const floors: Awaited<ReturnType<typeof runFloorPhase>>[] = [];
    let bestFloor: (typeof floors)[number] | undefined;
    if (!args.flag('no-floor')) {
      const pipeline = await startPipelineFloor(bench);
      try {
        await runFloorPhase(pipeline, ctx, { label: 'floor warm-up', rate: 30, durationMs: 3_000, settleMs: 5_000 });
        for (const rate of floorRates) {
          const f = await runFloorPhase(pipeline, ctx, { label: `floor ${rate}/s`, rate, durationMs: stepS * 1000, settleMs });
          floors.push(f);
          const ok = meets(f, p99Target);
          out(
            `floor ${rate}/s: accepted ${f.sms.accepted}, arrived ${f.sms.arrived}, p50 ${ms(f.sms.latency.p50)} p99 ${ms(f.sms.latency.p99)}, ` +
              `${f.cpuMsPerCode.toFixed(2)} ms CPU per code in the floor process, load ${f.loadAverage} — ${ok ? 'meets' : 'misses'}`,
          );
          if (ok) bestFloor = f;
          if (!ok && f.sms.latency.p99 > 5 * p99Target) break;
        }
      } finally {
        await pipeline.stop();
      }
    }

    out('\n== steady: summary');
    out(
      table(
        ['rate', 'sent/s', 'accepted/s', 'p50', 'p95', 'p99', 'failed', 'lost', 'dup', 'load avg', 'verdict'],
        results.map((r) => [
          `${Math.round(r.targetRate)}/s`,
          Math.round(r.drive.sentPerSecond),
          Math.round(r.sms.accepted / r.drive.seconds),
          ms(r.sms.latency.p50),
          ms(r.sms.latency.p95),
          ms(r.sms.latency.p99),
          r.sms.failed,
          r.sms.notArrived,
          r.sms.duplicates,
          r.loadAverage.split(' ')[0]!,
          meets(r, p99Target) ? 'meets' : 'misses',
        ]),
      ),
    );
    out(`floor (same run): raw SMPP accept ${Math.round(floor.perSecond)}/s at the simulator`);
    if (floors.length) {
      out('pipeline floor (same run; HTTP → Redis SET → confirmed publish → consume → SMPP submit, one process):');
      out(
        table(
          ['rate', 'accepted/s', 'p50', 'p95', 'p99', 'lost', 'CPU ms/code (floor process)', 'load avg', 'verdict'],
          floors.map((f) => [
            `${f.targetRate}/s`,
            Math.round(f.sms.accepted / f.drive.seconds),
            ms(f.sms.latency.p50),
            ms(f.sms.latency.p95),
            ms(f.sms.latency.p99),
            f.sms.notArrived,
            f.cpuMsPerCode.toFixed(2),
            f.loadAverage.split(' ')[0]!,
            meets(f, p99Target) ? 'meets' : 'misses',
          ]),
        ),
      );
      out(
        `floor's highest sustainable rate: ${bestFloor ? `${bestFloor.targetRate}/s` : 'none of the rates tried'}` +
          (bestFloor && best ? ` — the platform reaches ${(best.targetRate / bestFloor.targetRate).toFixed(2)} of it` : ''),
      );
    }
    if (best) {
      out(
        `highest sustainable rate: ${Math.round(best.targetRate)} code requests/s (p99 ${ms(best.sms.latency.p99)}); target ${TARGET_RATE}/s: ${best.targetRate >= TARGET_RATE ? 'MET' : 'NOT met'}`,
      );
      out(`CPU and RSS at ${Math.round(best.targetRate)}/s (steady load):`);
      printUsage(best.usage, best.drive.seconds, best.sms.accepted);
    } else {
      out(`no tested rate met p99 < ${p99Target} ms; target ${TARGET_RATE}/s: NOT met`);
    }
    const rssOver = (best ?? results.at(-1))?.usage.filter((u) => bench.serviceGroups().some((g) => g.name === u.name) && u.peakRssMb >= 200);
    out(`services over 200 MB RSS: ${rssOver?.length ? rssOver.map((u) => `${u.name} ${u.peakRssMb.toFixed(0)} MB`).join(', ') : 'none'}`);
    if (args.flag('json'))
      out(
        JSON.stringify({
          scenario: 'steady',
          floorSmppPerSecond: Math.round(floor.perSecond),
          phases: results.map(phaseJson),
          floorPhases: floors.map((f) => ({ rate: f.targetRate, p99: Math.round(f.sms.latency.p99), cpuMsPerCode: +f.cpuMsPerCode.toFixed(2) })),
        }),
      );
    process.exitCode = best && best.targetRate >= TARGET_RATE ? 0 : 1;
  } finally {
    await tracker?.stop();
    await bench.stop();
    if (args.list('profile')) out(`CPU profiles: ${bench.profileDir}`);
  }
}

function meets(r: Pick<PhaseResult, 'sms' | 'drive' | 'targetRate'>, p99Target: number): boolean {
  return (
    r.sms.latency.p99 < p99Target &&
    r.sms.accepted >= 0.99 * r.sms.sent &&
    r.sms.notArrived === 0 &&
    r.drive.shed === 0 &&
    r.drive.sentPerSecond >= 0.95 * r.targetRate
  );
}

runScenario('steady', main);
