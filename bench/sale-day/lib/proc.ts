/**
 * Where the CPU and memory go: per-process CPU time and resident memory from /proc (Linux), for
 * the stack's processes, the infrastructure (RabbitMQ, Redis, PostgreSQL: every process of theirs
 * on the machine, so other users' load is in there too) and the bench process itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** Clock ticks a second of /proc/<pid>/stat (USER_HZ; 100 on every Linux we run on). */
const TICK_MS = 10;

export interface ProcStat {
  /** user + system CPU time, ms. */
  cpuMs: number;
  /** Resident set size, MB. */
  rssMb: number;
}

/** CPU time and RSS of one process, or undefined if it is gone. */
export function procStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    const cpuMs = (Number(fields[11]) + Number(fields[12])) * TICK_MS;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuMs, rssMb: rssKb / 1024 };
  } catch {
    return undefined;
  }
}

/**
 * Context switches of every thread of a process so far (voluntary + involuntary): how often it
 * went to sleep and was woken; each wake-up costs the machine CPU of its own, more in a VM.
 */
export function threadSwitches(pid: number): number {
  let n = 0;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const tid of tids) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      n += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
      n += Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {
      // exited meanwhile
    }
  }
  return n;
}

/** Pids of every process whose command name (/proc/<pid>/comm) matches. */
export function pidsByName(match: RegExp): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (match.test(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** A named group of processes measured together (one service, or all of PostgreSQL's). */
export interface MeteredGroup {
  name: string;
  /** Called at every sample: processes come and go (PostgreSQL backends, restarts). */
  pids(): number[];
}

export const INFRA_GROUPS: readonly MeteredGroup[] = [
  { name: 'rabbitmq', pids: () => pidsByName(/^beam\.smp$|^erl_child_setup$|^epmd$/) },
  { name: 'redis', pids: () => pidsByName(/^redis-server$/) },
  { name: 'postgres', pids: () => pidsByName(/^postgres$/) },
];

export interface GroupUsage {
  name: string;
  /** CPU used between the two samples, in cores (1.0 = one core busy all the time). */
  cores: number;
  /** CPU ms used between the two samples. */
  cpuMs: number;
  /** Resident memory at the second sample (sum over the group's processes), MB. */
  rssMb: number;
  /** Highest RSS seen at any sample between the two marks, MB. */
  peakRssMb: number;
  /** Seconds between the two marks. */
  seconds: number;
  /** Context switches (wake-ups) between the two marks, all threads of the group's processes. */
  switches: number;
}

interface Snapshot {
  at: number;
  /** per group: pid → cpuMs */
  cpu: Map<string, Map<number, number>>;
  /** per group: pid → context switches so far */
  switches: Map<string, Map<number, number>>;
  rss: Map<string, number>;
}

/**
 * Samples CPU and RSS of named process groups. `mark()` returns a snapshot; `usage(a, b)` is
 * what each group used between two. A background sampler (`startSampling`) records peak RSS.
 */
export class ProcessMeter {
  private readonly peaks = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  /** `groups` may be a function: read at every mark, so processes started later are measured too. */
  constructor(private readonly groupsOf: readonly MeteredGroup[] | (() => readonly MeteredGroup[])) {}

  private get groups(): readonly MeteredGroup[] {
    return typeof this.groupsOf === 'function' ? this.groupsOf() : this.groupsOf;
  }

  /** The bench process itself (gateway, load driver, tracker). */
  static self(): MeteredGroup {
    return { name: 'bench (gateway+driver)', pids: () => [process.pid] };
  }

  mark(): Snapshot {
    const cpu = new Map<string, Map<number, number>>();
    const switches = new Map<string, Map<number, number>>();
    const rss = new Map<string, number>();
    // The whole machine, as pid 0: what every process used, ours and the neighbours'.
    cpu.set('machine (all processes)', new Map([[0, machineBusyMs()]]));
    rss.set('machine (all processes)', 0);
    for (const g of this.groups) {
      const perPid = new Map<number, number>();
      const switchesPerPid = new Map<number, number>();
      let total = 0;
      for (const pid of g.pids()) {
        const s = procStat(pid);
        if (!s) continue;
        perPid.set(pid, s.cpuMs);
        switchesPerPid.set(pid, threadSwitches(pid));
        total += s.rssMb;
      }
      cpu.set(g.name, perPid);
      switches.set(g.name, switchesPerPid);
      rss.set(g.name, total);
      this.peaks.set(g.name, Math.max(this.peaks.get(g.name) ?? 0, total));
    }
    return { at: Date.now(), cpu, switches, rss };
  }

  /** Samples every `everyMs` so peak RSS is known; resets the peaks. */
  startSampling(everyMs = 1_000): void {
    this.stopSampling();
    this.peaks.clear();
    this.timer = setInterval(() => this.mark(), everyMs);
    this.timer.unref();
  }

  stopSampling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  usage(from: Snapshot, to: Snapshot): GroupUsage[] {
    const seconds = Math.max(0.001, (to.at - from.at) / 1000);
    return [...to.cpu.keys()].map((name) => {
      const g = { name };
      const before = from.cpu.get(g.name) ?? new Map<number, number>();
      let cpuMs = 0;
      // A process that started between the marks counts from zero; one that exited is lost.
      for (const [pid, ms] of to.cpu.get(g.name) ?? []) cpuMs += ms - (before.get(pid) ?? 0);
      const switchesBefore = from.switches.get(g.name) ?? new Map<number, number>();
      let switches = 0;
      for (const [pid, n] of to.switches.get(g.name) ?? []) switches += n - (switchesBefore.get(pid) ?? 0);
      return {
        name: g.name,
        cpuMs,
        cores: cpuMs / 1000 / seconds,
        rssMb: to.rss.get(g.name) ?? 0,
        peakRssMb: Math.max(this.peaks.get(g.name) ?? 0, to.rss.get(g.name) ?? 0),
        seconds,
        switches,
      };
    });
  }
}

/** Busy CPU time of the whole machine (all cores, all processes: others' work too), ms. */
export function machineBusyMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy = user + nice + system + irq + softirq
  const busy = (v[0] ?? 0) + (v[1] ?? 0) + (v[2] ?? 0) + (v[5] ?? 0) + (v[6] ?? 0);
  return busy * TICK_MS;
}

/** `uptime`'s load averages (1, 5, 15 min). */
export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}
