/**
 * Crash drills (scenario 3): what one fault did to the code requests around it, from the
 * tracker's request-by-request record — failures with a clear error (problem+json) and unclear
 * ones (no answer, 502/504, a body that is not a problem), time to recover, lost, duplicates —
 * and the RabbitMQ outage with a guard that always starts the app again.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import type { CodeKind } from './mix';
import type { TrackedRequest } from './tracker';

const run = promisify(execFile);

/** When the fault began, when it ended (the restart began), and when the component was back. */
export interface DrillWindow {
  /** Epoch ms: just before the kill / stop. */
  faultStart: number;
  /** Epoch ms: the restart (start, start_app, redis-server) was begun. */
  faultEnd: number;
  /** Epoch ms: the component answered again (ready check). */
  readyAt: number;
}

export interface DrillFigures {
  sent: number;
  accepted: number;
  /** Failed with a problem+json answer, by `status code` (requests sent from the fault on). */
  clear: Record<string, number>;
  clearTotal: number;
  /** Failed without a clear answer: no answer (status 0), 502/504, or a body that is not a problem. */
  unclear: Record<string, number>;
  unclearTotal: number;
  /** The first unclear failures: kind, sent (s from the fault), answered after (ms), status and problem. */
  unclearSamples: { kind: string; t: number; ms: number; what: string }[];
  /** The slowest answers over 5 s: kind, sent (s from the fault), answered after (ms), outcome. */
  slowSamples: { kind: string; t: number; ms: number; what: string }[];
  /** Failures of requests sent before the fault (the steady load's own errors). */
  before: number;
  /** Seconds from the fault's end to the first SMS (of a kind the fault touches) arriving again. */
  firstSmsS?: number;
  /** Longest time without an SMS of the touched kinds, from the fault's start on (s). */
  smsGapS: number;
  /**
   * Seconds from the fault's end until requests stopped failing (no failure for QUIET_MS after; 0:
   * none failed from the fault's end on).
   */
  errorsGoneS: number;
  /** Requests kept failing to the end of the load: not recovered within the phase. */
  stillFailing: boolean;
  /** Failures after the errors were gone (sent more than QUIET_MS later): noise, or a relapse. */
  laterFailures: number;
  /** Slowest answer to a request sent from the fault on (ms), and answers over 5 s. */
  slowestMs: number;
  over5s: number;
  lost: number;
  lostExpired: number;
  duplicates: number;
  /** Requests with a duplicate SMS, by kind. */
  duplicatesByKind: Record<string, number>;
  afterExpiry: number;
  arrivedDespiteError: number;
  /** Of those, by `kind status code`. */
  despiteErrorByKind: Record<string, number>;
  /** Per second from 2 s before the fault: sent, accepted, failed clear / unclear, touched SMS arrived. */
  timeline: { t: number; sent: number; accepted: number; clear: number; unclear: number; sms: number }[];
}

/** How long no request may fail for the errors to count as gone. */
export const QUIET_MS = 3_000;

/** A failure whose answer does not say what happened: no answer, a gateway 502/504, or not a problem. */
export function isUnclear(status: number, problem: string | undefined): boolean {
  return status === 0 || status === 502 || status === 504 || problem === undefined || problem === '-';
}

/**
 * The figures of one drill. `kinds`: the request kinds whose path goes through the faulted
 * component (their SMS stop during the outage); `loadEnd`: epoch ms the load stopped.
 */
export function analyzeDrill(
  requests: readonly TrackedRequest[],
  w: DrillWindow,
  kinds: readonly CodeKind[] | 'all',
  loadEnd: number,
  now = Date.now(),
): DrillFigures {
  const touched = (r: TrackedRequest) => kinds === 'all' || (kinds as readonly string[]).includes(r.kind);
  const clear: Record<string, number> = {};
  const unclear: Record<string, number> = {};
  const unclearSamples: DrillFigures['unclearSamples'] = [];
  const slow: DrillFigures['slowSamples'] = [];
  let before = 0;
  let slowestMs = 0;
  let over5s = 0;
  for (const r of requests) {
    const answerMs = r.answeredAt !== undefined ? r.answeredAt - r.requestedAt : Infinity;
    if (r.requestedAt >= w.faultStart) {
      slowestMs = Math.max(slowestMs, answerMs);
      if (answerMs > 5_000) {
        over5s++;
        slow.push({
          kind: r.kind,
          t: (r.requestedAt - w.faultStart) / 1000,
          ms: answerMs,
          what: r.state === 'failed' ? `${r.status ?? 0} ${r.problem ?? '-'}` : r.state,
        });
      }
    }
    if (r.state !== 'failed') continue;
    if (r.requestedAt < w.faultStart) {
      before++;
      continue;
    }
    const key = `${r.status ?? 0} ${r.problem ?? '-'}`;
    const isUnclearOne = isUnclear(r.status ?? 0, r.problem);
    const into = isUnclearOne ? unclear : clear;
    into[key] = (into[key] ?? 0) + 1;
    if (isUnclearOne && unclearSamples.length < 5)
      unclearSamples.push({
        kind: r.kind,
        t: (r.requestedAt - w.faultStart) / 1000,
        ms: answerMs,
        what: key,
      });
  }
  const accepted = requests.filter((r) => r.state === 'accepted');
  const arrivals = accepted
    .filter((r) => touched(r) && r.arrivedAt !== undefined)
    .map((r) => r.arrivedAt!)
    .sort((a, b) => a - b);
  const firstAfter = arrivals.find((t) => t >= w.faultEnd);
  let smsGap = 0;
  let prev = w.faultStart;
  for (const t of arrivals) {
    if (t < w.faultStart) continue;
    smsGap = Math.max(smsGap, t - prev);
    prev = t;
  }
  // After the last SMS: a gap that runs on to the end of the load is one too.
  smsGap = Math.max(smsGap, Math.min(loadEnd, now) - prev);
  // Errors gone: the earliest time from the fault's end on (the end itself, or a failure's send
  // time) after which no request failed for QUIET_MS while some were accepted.
  const failures = requests
    .filter((r) => r.state === 'failed' && r.requestedAt >= w.faultStart)
    .map((r) => r.requestedAt)
    .sort((a, b) => a - b);
  let goneAt: number | undefined;
  for (const t of [w.faultEnd, ...failures.filter((f) => f >= w.faultEnd)]) {
    const nextFailure = failures.find((f) => f > t);
    const quiet = nextFailure === undefined || nextFailure - t > QUIET_MS;
    if (quiet && accepted.some((r) => r.requestedAt > t)) {
      goneAt = t;
      break;
    }
  }
  const later = goneAt === undefined ? 0 : failures.filter((f) => f > goneAt + QUIET_MS).length;
  const notArrived = accepted.filter((r) => r.arrivedAt === undefined);
  const duplicatesByKind: Record<string, number> = {};
  for (const r of requests)
    if (r.duplicateArrivals) duplicatesByKind[r.kind] = (duplicatesByKind[r.kind] ?? 0) + r.duplicateArrivals;
  const from = w.faultStart - 2_000;
  const timeline: DrillFigures['timeline'] = [];
  const row = (t: number) => {
    const i = Math.floor((t - from) / 1000);
    if (i < 0) return undefined;
    while (timeline.length <= i)
      timeline.push({ t: timeline.length - 2, sent: 0, accepted: 0, clear: 0, unclear: 0, sms: 0 });
    return timeline[i];
  };
  for (const r of requests) {
    const at = row(r.requestedAt);
    if (at) {
      at.sent++;
      if (r.state === 'accepted') at.accepted++;
      else if (r.state === 'failed') {
        if (isUnclear(r.status ?? 0, r.problem)) at.unclear++;
        else at.clear++;
      }
    }
    if (r.state === 'accepted' && r.arrivedAt !== undefined && touched(r)) {
      const a = row(r.arrivedAt);
      if (a) a.sms++;
    }
  }
  const sum = (o: Record<string, number>) => Object.values(o).reduce((n, v) => n + v, 0);
  return {
    sent: requests.length,
    accepted: accepted.length,
    clear,
    clearTotal: sum(clear),
    unclear,
    unclearTotal: sum(unclear),
    unclearSamples,
    slowSamples: slow.sort((a, b) => b.ms - a.ms).slice(0, 5),
    before,
    ...(firstAfter !== undefined ? { firstSmsS: Math.max(0, firstAfter - w.faultEnd) / 1000 } : {}),
    smsGapS: smsGap / 1000,
    errorsGoneS: goneAt === undefined ? Infinity : (goneAt - w.faultEnd) / 1000,
    stillFailing: goneAt === undefined,
    laterFailures: later,
    slowestMs,
    over5s,
    lost: notArrived.length,
    lostExpired: notArrived.filter((r) => r.expiresAt !== undefined && r.expiresAt < now).length,
    duplicates: sum(duplicatesByKind),
    duplicatesByKind,
    afterExpiry: accepted.filter(
      (r) => r.arrivedAt !== undefined && r.expiresAt !== undefined && r.arrivedAt > r.expiresAt,
    ).length,
    arrivedDespiteError: requests.filter((r) => r.state === 'failed' && r.arrivedAt !== undefined).length,
    despiteErrorByKind: countBy(
      requests.filter((r) => r.state === 'failed' && r.arrivedAt !== undefined),
      (r) => `${r.kind} ${r.status ?? 0} ${r.problem ?? '-'}`,
    ),
    timeline,
  };
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

/**
 * `rabbitmqctl stop_app` / `start_app` of the machine's RabbitMQ (shared with everyone on it),
 * with a guard: once stopped, the app is started again on the way out whatever happens (an
 * exception, Ctrl-C, SIGTERM, process.exit).
 */
export class RabbitOutage {
  private stopped = false;
  private guarded = false;

  /** Stops the RabbitMQ application (the Erlang node stays); resolves when it has stopped. */
  async stop(): Promise<void> {
    this.guard();
    this.stopped = true;
    await run('rabbitmqctl', ['-q', 'stop_app'], { timeout: 60_000 });
  }

  /** Starts it again; resolves when it accepts connections. */
  async start(): Promise<void> {
    await run('rabbitmqctl', ['-q', 'start_app'], { timeout: 120_000 });
    this.stopped = false;
    // start_app returns when the app is up; wait for the listener as well.
    await run('rabbitmqctl', ['-q', 'await_startup'], { timeout: 60_000 }).catch(() => undefined);
  }

  /** Synchronously, if still stopped (the exit path). */
  startSync(): void {
    if (!this.stopped) return;
    try {
      execFileSync('rabbitmqctl', ['-q', 'start_app'], { stdio: 'ignore', timeout: 120_000 });
      this.stopped = false;
    } catch (error) {
      process.stderr.write(`rabbitmqctl start_app failed: ${String(error)}; run it by hand\n`);
    }
  }

  private guard(): void {
    if (this.guarded) return;
    this.guarded = true;
    process.on('exit', () => this.startSync());
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
      process.once(signal, () => {
        process.stderr.write(`${signal}: starting RabbitMQ's app again before exiting\n`);
        this.startSync();
        process.exit(130);
      });
  }
}
