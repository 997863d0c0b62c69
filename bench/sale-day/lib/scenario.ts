/** What every sale-day scenario script does around its own phases. */
import {
  type BenchStack,
  type BenchStackOptions,
  prefillMessageLog,
  seedAccounts,
  startBenchStack,
} from './bench-stack';
import { stopStartedStacks } from '@phonegate/stack';
import type { parseArgs } from './args';
import { DEFAULT_MIX, type MixAccounts } from './mix';
import { DestinationPool } from './numbers';
import { runPhase } from './phase';
import { measureSmppFloor, type SmppFloor } from './smpp-floor';
import { ms, out } from './stats';
import { SmsTracker } from './tracker';

/** Runs a scenario's main and exits: 0 (or what it set in process.exitCode), 1 on an error. */
export function runScenario(name: string, main: () => Promise<void>): void {
  // A signal stops the stack as stop() does (services, simulator, vhost, databases, Redis keys;
  // 20 s at most), then ends the run through process.exit, so the exit hooks run too: what is
  // still running is killed, a stopped RabbitMQ app is started again (a signal's default action
  // skips them). A second signal exits at once.
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(signal, () => {
      if (stopping) process.exit(130);
      stopping = true;
      process.stderr.write(`${name}: ${signal}, stopping the stack (again to exit at once)\n`);
      setTimeout(() => process.exit(130), 20_000).unref();
      void stopStartedStacks().finally(() => process.exit(130));
    });
  main().then(
    () => process.exit(),
    (error: unknown) => {
      process.stderr.write(`${name} failed: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}

/** startBenchStack with the common flags: --log-level, --profile=<service,…>. */
export function startFromArgs(
  args: ReturnType<typeof parseArgs>,
  options: BenchStackOptions = {},
): Promise<BenchStack> {
  const profile = args.list('profile');
  return startBenchStack({
    logLevel: args.value('log-level') ?? 'warn',
    ...(profile ? { profile } : {}),
    ...options,
  });
}

export interface LoadContext {
  tracker: SmsTracker;
  accounts: MixAccounts;
  numbers: DestinationPool;
  /** The simulator's raw SMPP accept rate, measured after the warm-up. */
  smppFloor: SmppFloor;
}

/**
 * Before a timed phase: a message log of `messageLogRows` (default 50,000, see prefillMessageLog),
 * accounts for `plannedRequests` of the mix, the tracker following the simulator, a warm-up
 * (JIT, pools, queues) and the raw SMPP floor. Stop the tracker at the end.
 */
export async function prepareLoad(
  bench: BenchStack,
  options: { plannedRequests: number; smoke?: boolean; messageLogRows?: number },
): Promise<LoadContext> {
  const logRows = options.messageLogRows ?? 50_000;
  await prefillMessageLog(bench.stack, logRows);
  const numbers = new DestinationPool();
  const planned = options.plannedRequests + 300;
  const accounts = await seedAccounts(
    bench.stack,
    {
      plain: Math.ceil(planned * DEFAULT_MIX.phone_add * 1.1),
      twoStep: Math.ceil(planned * DEFAULT_MIX.sign_in * 1.1) + 10,
    },
    numbers,
  );
  out(
    `seeded ${accounts.plain.length} accounts for phone adds, ${accounts.twoStep.length} two-step accounts for sign-ins; ` +
      `notifier message log prefilled with ${logRows} old messages`,
  );
  const tracker = new SmsTracker(bench.stack.sim.controlUrl);
  await tracker.start();
  const ctx = { tracker, accounts, numbers };
  const warm = await runPhase(bench, ctx, {
    label: 'warm-up',
    rate: options.smoke ? 10 : 30,
    durationMs: options.smoke ? 3_000 : 8_000,
    settleMs: 10_000,
    live: false,
  });
  out(`warm-up: ${warm.sms.accepted} accepted, ${warm.sms.arrived} arrived, p99 ${ms(warm.sms.latency.p99)}`);
  const smppFloor = await measureSmppFloor(bench.stack.sim.smppPort, { count: options.smoke ? 2_000 : 10_000 });
  out(
    `floor: raw SMPP submit_sm → submit_sm_resp at the simulator (one session, window 64): ` +
      `${Math.round(smppFloor.perSecond)}/s, p99 ${ms(smppFloor.latency.p99)}`,
  );
  return { ...ctx, smppFloor };
}
