/**
 * Sale day, scenario 4 — scaling: 1, 2 and 3 notifier processes sharing the queues. Each step
 * queues the same number of order updates (standard priority) straight on the bus and measures
 * how fast they reach the carrier simulator, with CPU and RSS of every replica. Floors measured
 * in the same run: raw SMPP accept at the simulator, raw amqplib publish with confirms.
 *
 *   npm run build && node bench/run-ts.js bench/sale-day/scaling.ts [--quick|--smoke]
 *
 * Flags: --messages=<n> per step (default 20000; --quick 6000; --smoke 1000)
 * --replicas=1,2,3 --priority=standard|bulk --log-level --json
 */
import {
  type GroupUsage,
  loadAverage,
  measureSmppFloor,
  ms,
  out,
  parseArgs,
  prefillMessageLog,
  printUsage,
  queueOrderUpdates,
  runScenario,
  sleep,
  SmsTracker,
  startFromArgs,
  type Summary,
  table,
} from './lib';

interface Step {
  replicas: number;
  messages: number;
  seconds: number;
  perSecond: number;
  publishPerSecond: number;
  latency: Summary;
  lost: number;
  duplicates: number;
  usage: GroupUsage[];
  load: string;
}

async function main(): Promise<void> {
  const args = parseArgs();
  const smoke = args.flag('smoke');
  const quick = args.flag('quick');
  const n = args.number('messages', smoke ? 1_000 : quick ? 6_000 : 20_000);
  const replicaSteps = (args.list('replicas') ?? ['1', '2', '3']).map(Number);
  const priority = (args.value('priority') ?? 'standard') as 'standard' | 'bulk';

  out(`sale day — scaling (scenario 4) — ${new Date().toISOString()}, load average ${loadAverage()}`);
  out(`${n} ${priority} order updates per step, notifier replicas ${replicaSteps.join(', ')} sharing the queues`);
  // The shared PostgreSQL allows 100 connections for everyone on the machine: three notifiers
  // with the default pool of 40 each could take them all, so each gets 20 here.
  const pool = args.value('db-pool') ?? '20';
  out(`NOTIFIER_DB_POOL_SIZE=${pool} per notifier (default 40; PostgreSQL max_connections is 100, shared)`);
  const bench = await startFromArgs(args, { env: { notifier: { NOTIFIER_DB_POOL_SIZE: pool } } });
  const tracker = new SmsTracker(bench.stack.sim.controlUrl);
  try {
    await prefillMessageLog(bench.stack, 50_000);
    await tracker.start();
    const smppFloor = await measureSmppFloor(bench.stack.sim.smppPort, { count: smoke ? 2_000 : 10_000 });
    out(`floor: raw SMPP accept at the simulator ${Math.round(smppFloor.perSecond)}/s (one session, window 64, p99 ${ms(smppFloor.latency.p99)})`);
    // Warm-up: JIT and pools of the first notifier.
    await queueOrderUpdates(bench.stack, 500, { priority });
    await sleep(smoke ? 2_000 : 5_000);

    const steps: Step[] = [];
    for (const replicas of replicaSteps) {
      while (1 + bench.stack.replicas.notifier.filter((r) => r.child?.exitCode === null).length < replicas) {
        const r = await bench.stack.addReplica('notifier');
        out(`started ${r.name} on port ${r.port}`);
      }
      await sleep(smoke ? 1_000 : 3_000);
      tracker.reset();
      const before = bench.meter.mark();
      bench.meter.startSampling(1_000);
      const queued = await queueOrderUpdates(bench.stack, n, {
        priority,
        onPublish: (to, at) => tracker.accepted(tracker.sent({ kind: 'order_update', destination: to, requestedAt: at })),
      });
      await tracker.settle(smoke ? 60_000 : 600_000);
      const after = bench.meter.mark();
      bench.meter.stopSampling();
      const r = tracker.report();
      // From the first publish to the last arrival.
      const seconds = Math.max(0.001, (r.lastArrivalAt - r.firstRequestAt) / 1000);
      const usage = bench.meter.usage(before, after);
      steps.push({
        replicas,
        messages: r.arrived,
        seconds,
        perSecond: r.arrived / seconds,
        publishPerSecond: queued.perSecond,
        latency: r.latency,
        lost: r.notArrived,
        duplicates: r.duplicates,
        usage,
        load: loadAverage(),
      });
      out(`\n== ${replicas} notifier process(es): ${r.arrived} of ${n} arrived in ${seconds.toFixed(1)}s (${Math.round(r.arrived / seconds)}/s, first publish to last arrival), load average ${loadAverage()}`);
      out(`envelope → simulator: p50 ${ms(r.latency.p50)}, p99 ${ms(r.latency.p99)}; not arrived ${r.notArrived}, duplicates ${r.duplicates}; published at ${Math.round(queued.perSecond)}/s`);
      printUsage(usage, seconds, r.arrived);
    }

    out('\n== scaling: summary');
    const base = steps[0]?.perSecond ?? 1;
    out(
      table(
        ['notifiers', 'msg/s', 'per replica', 'speed-up', 'p99', 'lost', 'dup', 'notifier CPU (cores)', 'notifier RSS MB each', 'machine busy', 'load avg'],
        steps.map((s) => {
          const notifiers = s.usage.filter((u) => u.name === 'notifier' || u.name.startsWith('notifier#'));
          const machine = s.usage.find((u) => u.name.startsWith('machine'));
          return [
            s.replicas,
            Math.round(s.perSecond),
            Math.round(s.perSecond / s.replicas),
            `${(s.perSecond / base).toFixed(2)}×`,
            ms(s.latency.p99),
            s.lost,
            s.duplicates,
            notifiers.map((u) => u.cores.toFixed(2)).join(' + '),
            notifiers.map((u) => u.peakRssMb.toFixed(0)).join(', '),
            machine ? machine.cores.toFixed(2) : '-',
            s.load.split(' ')[0]!,
          ];
        }),
      ),
    );
    out(`floors (same run): raw SMPP accept ${Math.round(smppFloor.perSecond)}/s; raw amqplib publish ${Math.round(Math.max(...steps.map((s) => s.publishPerSecond)))}/s`);
    if (args.flag('json'))
      out(JSON.stringify({ scenario: 'scaling', steps: steps.map((s) => ({ replicas: s.replicas, perSecond: Math.round(s.perSecond), p99: Math.round(s.latency.p99), lost: s.lost, load: s.load })) }));
  } finally {
    await tracker.stop();
    await bench.stop();
  }
}

runScenario('scaling', main);
