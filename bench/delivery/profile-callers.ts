/**
 * Who calls a hot function: the self time of every function whose name matches
 * `pattern`, grouped by its call path (the `--depth` nearest callers), from a
 * `.cpuprofile` (bench/delivery/profile-hook.js, or node --cpu-prof). With
 * `--inclusive`, instead: total (self + callees) time of the matching frames,
 * by function, as a share of busy time. Complements bench/sale-day/profile-summary.ts
 * (self time by function and package). With `--ours`, instead: the self time of
 * frames whose location (`function@package-or-file`) matches `pattern` (e.g.
 * `@typeorm`), by the nearest caller in the repo's own code (services/, libs/).
 *
 *   node bench/run-ts.js bench/delivery/profile-callers.ts <file.cpuprofile> <pattern> [--depth=6] [--top=15] [--inclusive|--ours]
 */
import { readFileSync } from 'node:fs';
import type { CpuProfile as Profile, CpuProfileNode as Node } from '../lib/cpuprofile';

const [file, pattern] = process.argv.slice(2);
const flag = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
if (!file || !pattern) {
  process.stderr.write('usage: profile-callers.ts <file.cpuprofile> <pattern> [--depth=6] [--top=15] [--inclusive|--ours]\n');
  process.exit(2);
}
const depth = flag('depth', 6);
const top = flag('top', 15);
const inclusive = process.argv.includes('--inclusive');
const ours = process.argv.includes('--ours');
const match = new RegExp(pattern);

const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const self = new Map<number, number>();
const samples = p.samples ?? [];
for (let i = 0; i < samples.length; i++) self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + (p.timeDeltas?.[i] ?? 0) / 1000);

const short = (n: Node) => {
  const url = n.callFrame.url.replace('file://', '');
  const nm = url.lastIndexOf('node_modules/');
  const where = nm >= 0 ? url.slice(nm + 13).split('/').slice(0, 1).join('/') : url.replace(/^.*\/work\/main\//, '');
  return `${n.callFrame.functionName || '(anon)'}@${where}${url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
};

let busy = 0;
const groups = new Map<string, number>();
for (const [id, ms] of self) {
  const node = byId.get(id)!;
  if (node.callFrame.functionName === '(idle)') continue;
  busy += ms;
  if (inclusive) {
    // Count each matching function once per sample, however deep it recurs.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      if (!match.test(short(n))) continue;
      const key = short(n);
      if (seen.has(key)) continue;
      seen.add(key);
      groups.set(key, (groups.get(key) ?? 0) + ms);
    }
    continue;
  }
  if (ours) {
    if (!match.test(short(node))) continue;
    let cur = parent.get(id);
    while (cur !== undefined && !/^[^@]*@(services|libs)\//.test(short(byId.get(cur)!))) cur = parent.get(cur);
    const key = cur === undefined ? '(no caller in the repo)' : short(byId.get(cur)!);
    groups.set(key, (groups.get(key) ?? 0) + ms);
    continue;
  }
  if (!match.test(node.callFrame.functionName)) continue;
  const path: string[] = [];
  for (let cur = parent.get(id), i = 0; cur !== undefined && i < depth; cur = parent.get(cur), i++) path.push(short(byId.get(cur)!));
  const key = `${node.callFrame.functionName} <- ${path.join(' <- ')}`;
  groups.set(key, (groups.get(key) ?? 0) + ms);
}
process.stdout.write(`busy ${busy.toFixed(0)} ms\n`);
for (const [key, ms] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  process.stdout.write(`${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / busy).toFixed(1).padStart(5)}%  ${key}\n`);
}
