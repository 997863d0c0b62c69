/**
 * Where a process's CPU went, from a `.cpuprofile` (node --cpu-prof): self time by package and
 * by function, and inclusive time (a sample counts for every package / function on its stack) by
 * package and by function of this repo, as shares of the busy (non-idle) time.
 *
 *   node bench/run-ts.js bench/identity/profile.ts <file.cpuprofile|dir> [top] [--from=<s>] [--drop=<regex>]
 *
 * --from leaves out the first seconds of the profile (start-up: module loading, migrations).
 * --drop leaves out the samples whose own (leaf) function matches, e.g. `^(writev|writeBuffer|writeUtf8String)$`:
 * on a busy machine a socket write that wakes PostgreSQL is often where the process loses the
 * CPU, and the profiler counts that wait as time in the write (compare utime/stime in /proc).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type CpuProfile as Profile, whereOf } from '../lib/cpuprofile';

/** `typeorm`, `@nestjs/core`, `services/identity/src/phones/phones.service.ts`, `node:internal/...`, `(native)`. */
export function packageOf(url: string): string {
  // A/B runs start a copy of identity's build from outside the repo (bench/identity/run.ts).
  const where = whereOf(url.replace(/^(file:\/\/)?.*\/identity-base\/dist\//, '/services/identity/dist/'));
  return where.startsWith('node:') ? where.split('/').slice(0, 2).join('/') : where;
}

/** Folds a repo file path to its package (`services/identity`, `libs/messaging`). */
function coarse(pkg: string): string {
  const m = /^(services|libs|tools|bench)\/([^/]+)/.exec(pkg);
  return m ? `${m[1]}/${m[2]}` : pkg;
}

function summarize(file: string, top: number, fromS: number, drop: RegExp | undefined): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];

  const selfPkg = new Map<string, number>();
  const selfFn = new Map<string, number>();
  const inclPkg = new Map<string, number>();
  const inclFn = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  let busy = 0;
  let at = 0;
  for (let i = 0; i < samples.length; i++) {
    const ms = (deltas[i] ?? 0) / 1000;
    at += ms;
    if (at < fromS * 1000) continue;
    const leaf = byId.get(samples[i]!)!;
    const name = leaf.callFrame.functionName;
    if (name === '(idle)' || drop?.test(name)) continue;
    busy += ms;
    const pkg = packageOf(leaf.callFrame.url);
    add(selfPkg, coarse(pkg), ms);
    add(selfFn, `${name || '(anonymous)'}  ${pkg}${leaf.callFrame.url ? `:${leaf.callFrame.lineNumber + 1}` : ''}`, ms);
    const seenPkg = new Set<string>();
    const seenFn = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      const np = packageOf(n.callFrame.url);
      seenPkg.add(coarse(np));
      if (/^(services|libs)\//.test(np)) seenFn.add(`${n.callFrame.functionName || '(anonymous)'}  ${np}:${n.callFrame.lineNumber + 1}`);
    }
    for (const k of seenPkg) add(inclPkg, k, ms);
    for (const k of seenFn) add(inclFn, k, ms);
  }
  const print = (title: string, m: Map<string, number>) => {
    process.stdout.write(`\n${title}\n`);
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`  ${((100 * v) / busy).toFixed(1).padStart(5)}%  ${v.toFixed(0).padStart(7)} ms  ${k}\n`);
    }
  };
  process.stdout.write(
    `\n${file}\n  wall ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s, busy ${(busy / 1000).toFixed(1)} s (idle${fromS ? `, the first ${fromS} s` : ''}${drop ? `, leaves matching ${drop.source}` : ''} left out)\n`,
  );
  print('self time by package', selfPkg);
  print('self time by function', selfFn);
  print('inclusive time by package (on the stack)', inclPkg);
  print('inclusive time by function of this repo', inclFn);
}

const target = process.argv[2];
if (!target) {
  process.stderr.write('usage: profile.ts <file.cpuprofile|dir> [top]\n');
  process.exit(2);
}
const top = Number(process.argv.slice(3).find((a) => !a.startsWith('--')) ?? 30);
const fromS = Number(process.argv.find((a) => a.startsWith('--from='))?.split('=')[1] ?? 0);
const dropArg = process.argv.find((a) => a.startsWith('--drop='))?.slice('--drop='.length);
const drop = dropArg ? new RegExp(dropArg) : undefined;
const files = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(target, f))
  : [target];
for (const f of files) summarize(f, top, fromS, drop);
