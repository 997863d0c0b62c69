/**
 * Hot spots of a `.cpuprofile` (from `--profile=<service>`): self time by function and by
 * package / source file, for the final report.
 *
 *   node bench/run-ts.js bench/sale-day/profile-summary.ts <file.cpuprofile|dir> [--top=25]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type CpuProfile as Profile, whereOf as where } from '../lib/cpuprofile';
import { out, parseArgs, table } from './lib';

function summarize(file: string, top: number): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++)
    self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + (deltas[i] ?? 0) / 1000);
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let idle = 0;
  for (const [id, msSelf] of self) {
    const n = byId.get(id)!;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += msSelf;
      continue;
    }
    const w = where(n.callFrame.url);
    const key = `${name}  ${w}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
    byFn.set(key, (byFn.get(key) ?? 0) + msSelf);
    byFile.set(w, (byFile.get(w) ?? 0) + msSelf);
  }
  const busy = total - idle;
  const pct = (v: number) => `${((100 * v) / busy).toFixed(1)}%`;
  out(
    `\n${file}\n  wall ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s, busy (non-idle) ${(busy / 1000).toFixed(1)} s`,
  );
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  out(
    table(
      ['self time by package / file', 'ms', 'share of busy'],
      sorted(byFile).map(([k, v]) => [k, v.toFixed(0), pct(v)]),
    ),
  );
  out(
    table(
      ['self time by function', 'ms', 'share of busy'],
      sorted(byFn).map(([k, v]) => [k, v.toFixed(0), pct(v)]),
    ),
  );
}

const args = parseArgs(process.argv.slice(3));
const target = process.argv[2];
if (!target) {
  process.stderr.write('usage: profile-summary.ts <file.cpuprofile|dir>\n');
  process.exit(2);
}
const files = statSync(target).isDirectory()
  ? readdirSync(target, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(target, f))
  : [target];
for (const f of files) summarize(f, args.number('top', 25));
