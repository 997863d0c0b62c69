/**
 * Where the otp process spends its CPU under `bench/otp`: a `.cpuprofile`
 * (BENCH_OTP_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR") split into the bench's
 * phases and summarised by self time per function and per package / file, and
 * by total (inclusive) time for chosen frames.
 *
 *   node bench/run-ts.js bench/otp/profile-summary.ts <file.cpuprofile|dir> [--top=25] [--phase=start|check|all]
 *
 * Phases are found from the samples themselves: each 200 ms slice goes to the
 * phase whose use case (`ChallengeService.start` or `.check`) its stacks show
 * most; slices with neither (start-up, the floor's phase, idle) are left out.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CpuProfile as Profile,
  type CpuProfileNode as ProfileNode,
  whereOf as where,
} from '../lib/cpuprofile';

const SLICE_US = 200_000;
/** Frames whose inclusive time is worth a line: the edges and the parts of a request. */
const TOTALS = [
  /^ChallengeService\.(start|check)$|^(start|check)  services\/otp\/src\/challenges\/challenge\.service/,
  /parsePhone|parsePhoneNumber|matchesEntirely/,
  /^publish  libs\/messaging/,
  /^run  services\/otp\/src\/redis\/lua-script/,
  /safeParse|parse  .*zod/,
  /createHmac|codeDigest|codeCandidate|labelled/,
];

function label(n: ProfileNode): string {
  const name = n.callFrame.functionName || '(anonymous)';
  return n.callFrame.url
    ? `${name}  ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`
    : `${name}  (native)`;
}

function summarize(file: string, top: number, phase: string): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackOf = (id: number): ProfileNode[] => {
    const out: ProfileNode[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (n) out.push(n);
    }
    return out;
  };
  const useCase = new Map<number, 'start' | 'check' | undefined>();
  const useCaseOf = (id: number) => {
    if (!useCase.has(id)) {
      const hit = stackOf(id).find(
        (n) =>
          n.callFrame.url.includes('challenges/challenge.service') &&
          (n.callFrame.functionName === 'start' || n.callFrame.functionName === 'check'),
      );
      useCase.set(id, hit?.callFrame.functionName as 'start' | 'check' | undefined);
    }
    return useCase.get(id);
  };

  // Slices of time, each given to a phase by the use cases its samples show.
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  const slices: { ids: number[]; us: number[]; start: number; check: number }[] = [];
  let t = 0;
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i] ?? 0;
    const s = Math.floor(t / SLICE_US);
    slices[s] ??= { ids: [], us: [], start: 0, check: 0 };
    const slice = slices[s];
    const id = samples[i] as number;
    slice.ids.push(id);
    slice.us.push(deltas[i + 1] ?? deltas[i] ?? 0);
    const u = useCaseOf(id);
    if (u) slice[u]++;
  }

  const self = new Map<string, number>();
  const byPackage = new Map<string, number>();
  const totals = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  let wall = 0;
  for (const slice of slices) {
    if (!slice) continue;
    const kind =
      slice.start + slice.check === 0 ? 'other' : slice.start >= slice.check ? 'start' : 'check';
    if (kind === 'other' || (phase !== 'all' && kind !== phase)) continue;
    wall += SLICE_US;
    slice.ids.forEach((id, i) => {
      const us = slice.us[i] ?? 0;
      const n = byId.get(id);
      if (!n) return;
      const name = n.callFrame.functionName;
      if (name === '(idle)') {
        idle += us;
        return;
      }
      busy += us;
      const key = label(n);
      self.set(key, (self.get(key) ?? 0) + us);
      const pkg = where(n.callFrame.url);
      byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
      const seen = new Set<string>();
      for (const f of stackOf(id)) {
        const l = label(f);
        for (const re of TOTALS) {
          if (re.test(l) && !seen.has(re.source)) {
            seen.add(re.source);
            totals.set(re.source, (totals.get(re.source) ?? 0) + us);
          }
        }
      }
    });
  }
  const pct = (us: number) => `${((100 * us) / Math.max(1, busy)).toFixed(1)}%`.padStart(6);
  const ms = (us: number) => `${(us / 1000).toFixed(0)} ms`.padStart(9);
  const print = (title: string, m: Map<string, number>, n: number) => {
    process.stdout.write(`\n${title}\n`);
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n))
      process.stdout.write(`${ms(v)} ${pct(v)}  ${k}\n`);
  };
  process.stdout.write(
    `${file}\nphase ${phase}: ${(wall / 1e6).toFixed(1)} s of slices, busy ${(busy / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms\n`,
  );
  print(`self time by function (top ${top})`, self, top);
  print('self time by package / file', byPackage, 20);
  print('total (inclusive) time of chosen frames', totals, TOTALS.length);
}

const args = process.argv.slice(2);
const top = Number(args.find((a) => a.startsWith('--top='))?.slice(6) ?? 25);
const phase = args.find((a) => a.startsWith('--phase='))?.slice(8) ?? 'all';
for (const target of args.filter((a) => !a.startsWith('--'))) {
  const files = statSync(target).isDirectory()
    ? readdirSync(target)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(target, f))
    : [target];
  for (const f of files) summarize(f, top, phase);
}
