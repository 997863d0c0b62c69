/**
 * Sale day, scenario 2 — peak sale: 10× the steady rate of code requests while 100,000 order
 * updates wait in the notifier's queues and the preferred SMS carrier (smpp-a) slows to 3 s with
 * 30 % errors. Reports code SMS request → simulator p99, the share failed over to http-b, the
 * breakers' timeline, codes dropped as expired, lost, sent after expiry, and how the order
 * updates drained. Floors measured in the same run: raw amqplib publish with confirms (the
 * order updates), raw SMPP accept at the simulator.
 *
 *   npm run build && node bench/run-ts.js bench/sale-day/peak.ts [--quick|--smoke]
 *
 * Flags: --steady-rate=<n> (default 100: the sustainable rate steady.ts measured) --rate=<n>
 * (default 10 × steady-rate) --duration=<s> (default 60; --quick 20; --smoke 8)
 * --orders=<n> (default 100000; --quick 20000; --smoke 2000) --settle=<s> (default 660: past
 * every code's expiry; --quick 120; --smoke 20) --degrade-at=<s> (default 5) --log-level
 * --profile=notifier --json
 */
import {
  loadAverage,
  ms,
  out,
  parseArgs,
  phaseJson,
  prepareLoad,
  printPhase,
  queueOrderUpdates,
  queueWatcher,
  runPhase,
  runScenario,
  type SmsTracker,
  sleep,
  startFromArgs,
  table,
} from './lib';

const LANES = ['notifier.critical', 'notifier.standard', 'notifier.bulk'] as const;

async function main(): Promise<void> {
  const args = parseArgs();
  const smoke = args.flag('smoke');
  const quick = args.flag('quick');
  const steadyRate = args.number('steady-rate', smoke ? 5 : 100);
  const rate = args.number('rate', steadyRate * 10);
  const durationS = args.number('duration', smoke ? 8 : quick ? 20 : 60);
  const orders = args.number('orders', smoke ? 2_000 : quick ? 20_000 : 100_000);
  const settleS = args.number('settle', smoke ? 20 : quick ? 120 : 660);
  const degradeAtS = args.number('degrade-at', smoke ? 2 : 5);

  out(`sale day — peak sale (scenario 2) — ${new Date().toISOString()}, load average ${loadAverage()}`);
  out(
    `${rate} code requests/s (${(rate / steadyRate).toFixed(1)} × steady ${steadyRate}/s) for ${durationS}s, ${orders} order updates queued, ` +
      `smpp-a → 3 s latency + 30 % errors at t=${degradeAtS}s; targets: code p99 < 2 s, 0 lost, 0 sent after expiry`,
  );
  const bench = await startFromArgs(args);
  let tracker: SmsTracker | undefined;
  const queues = await queueWatcher(bench.stack);
  try {
    const ctx = await prepareLoad(bench, { plannedRequests: rate * durationS, smoke });
    tracker = ctx.tracker;
    const { smppFloor } = ctx;

    // 100,000 order updates waiting: half standard, half bulk, straight on the bus.
    const queued = await queueOrderUpdates(bench.stack, orders, { priority: (i) => (i % 2 ? 'bulk' : 'standard') });
    out(
      `queued ${queued.published} order updates (standard/bulk) in ${queued.seconds.toFixed(1)}s: ` +
        `${Math.round(queued.perSecond)}/s (floor: raw amqplib publish with confirms, this run)`,
    );
    out(`queues at start: ${JSON.stringify(await queues.depths(LANES))}`);

    // Codes only (priority critical): order updates dropped as expired are counted apart.
    const codesExpired = { reason: 'expired', priority: 'critical' };
    const expiredBefore = await bench.metric('notifier', 'notifier_dropped_total', codesExpired);
    const sendsBefore = await bench.series('notifier', 'notifier_sends_total');
    const ordersBefore = ctx.tracker.untrackedSinceStart();
    const timeline: { t: number; carrier: string; state: string }[] = [];
    const depthLog: { t: number; depths: Record<string, number> }[] = [];
    const last = new Map<string, string>();
    let watching = true;
    const t0 = Date.now();
    const watch = (async () => {
      let tick = 0;
      while (watching) {
        try {
          for (const c of await bench.carriers()) {
            if (last.get(c.id) !== c.state) {
              timeline.push({ t: (Date.now() - t0) / 1000, carrier: c.id, state: c.state });
              last.set(c.id, c.state);
            }
          }
          if (tick++ % 10 === 0) depthLog.push({ t: (Date.now() - t0) / 1000, depths: await queues.depths(LANES) });
        } catch {
          // the notifier is too busy to answer in 2 s: try again
        }
        await sleep(500);
      }
    })();

    const peak = await runPhase(bench, ctx, {
      label: `peak ${rate}/s`,
      rate,
      durationMs: durationS * 1000,
      settleMs: settleS * 1000,
      during: async (elapsed) => {
        await sleep(Math.max(0, degradeAtS * 1000 - elapsed()));
        await bench.setCarrier('smpp-a', { latencyMs: 3_000, errorRate: 0.3 });
        timeline.push({ t: (Date.now() - t0) / 1000, carrier: 'smpp-a (simulator)', state: '3 s latency, 30 % errors' });
        await sleep(Math.max(0, durationS * 1000 - elapsed()));
        await bench.setCarrier('smpp-a', { latencyMs: 0, errorRate: 0 });
        timeline.push({ t: (Date.now() - t0) / 1000, carrier: 'smpp-a (simulator)', state: 'healthy again' });
      },
    });
    // Let the breaker show its recovery, then stop watching.
    await sleep(smoke ? 1_000 : 5_000);
    watching = false;
    await watch;

    printPhase(peak);
    const s = peak.sms;
    const expired = (await bench.metric('notifier', 'notifier_dropped_total', codesExpired)) - expiredBefore;
    const sendsAfter = await bench.series('notifier', 'notifier_sends_total');
    const key = (l: Record<string, string>) => `${l['carrier']} ${l['priority']} ${l['outcome']}`;
    const beforeMap = new Map(sendsBefore.map((x) => [key(x.labels), x.value]));
    const attempts = sendsAfter
      .map((x) => ({ k: key(x.labels), n: x.value - (beforeMap.get(key(x.labels)) ?? 0) }))
      .filter((x) => x.n > 0)
      .sort((a, b) => a.k.localeCompare(b.k));
    const failedOver = s.byCarrier['http-b'] ?? 0;
    out('\n== peak sale: results');
    out(
      `code SMS request → simulator: p50 ${ms(s.latency.p50)}, p95 ${ms(s.latency.p95)}, p99 ${ms(s.latency.p99)} ` +
        `(target < 2000 ms: ${s.latency.p99 < 2_000 ? 'MET' : 'NOT met'})`,
    );
    out(
      `failed over: ${failedOver} of ${s.arrived} code SMS went out over http-b (${((100 * failedOver) / Math.max(1, s.arrived)).toFixed(1)}%), ` +
        `${s.byCarrier['smpp-a'] ?? 0} over smpp-a`,
    );
    out(`send attempts by carrier, priority and outcome (notifier_sends_total): ${attempts.map((a) => `${a.k}: ${a.n}`).join(', ')}`);
    out('breaker timeline (GET /v1/carriers every 0.5 s; t from the load start):');
    for (const e of timeline) out(`  t=${e.t.toFixed(1).padStart(6)}s  ${e.carrier.padEnd(20)} ${e.state}`);
    out(
      `codes dropped as expired by the notifier: ${expired} (notifier_dropped_total{reason="expired",priority="critical"}); ` +
        `accepted codes not arrived: ${s.notArrived}, of which past their expiry: ${s.notArrivedExpired}, still within it: ${s.notArrived - s.notArrivedExpired}`,
    );
    const lost = Math.max(0, s.notArrivedExpired - expired);
    out(`lost (accepted, past expiry, not arrived and not dropped as expired): ${lost} (target 0: ${lost === 0 && s.notArrived === s.notArrivedExpired ? 'MET' : 'NOT met'})`);
    out(`sent after expiry: ${s.sentAfterExpiry} (target 0: ${s.sentAfterExpiry === 0 ? 'MET' : 'NOT met'}) · duplicates: ${s.duplicates}`);
    const delivered = ctx.tracker.untrackedSinceStart() - ordersBefore;
    out(`order updates delivered at the simulator from the load start to the end of settling: ${delivered} of ${orders}; queue depths over time:`);
    out(
      table(
        ['t (s)', ...LANES],
        depthLog.map((d) => [d.t.toFixed(0), ...LANES.map((l) => d.depths[l] ?? '-')]),
      ),
    );
    out(`queues at the end: ${JSON.stringify(await queues.depths(LANES))}`);
    if (args.flag('json'))
      out(JSON.stringify({ scenario: 'peak', ...phaseJson(peak), failedOver, expired, lost, timeline, smppFloor: Math.round(smppFloor.perSecond), publishFloor: Math.round(queued.perSecond) }));
  } finally {
    await queues.close();
    await tracker?.stop();
    await bench.stop();
    if (args.list('profile')) out(`CPU profiles: ${bench.profileDir}`);
  }
}

runScenario('peak', main);
