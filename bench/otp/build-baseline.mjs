#!/usr/bin/env node
// Compiles services/otp/src as it was at a git revision into tmp/otp-<rev>/dist (tmp/ is
// ignored), for BENCH_OTP_BASELINE: the bench then measures that build next to the current
// one, round by round. The libraries are the current ones (node_modules → libs/*/dist).
//
//   node bench/otp/build-baseline.mjs <rev>     → prints the path of its main.js
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformFile } from '@swc/core';
import { readFileSync } from 'node:fs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const rev = process.argv[2];
if (!rev) throw new Error('usage: build-baseline.mjs <rev>');
const sha = execFileSync('git', ['rev-parse', '--short', rev], { cwd: root }).toString().trim();
const out = join(root, 'tmp', `otp-${sha}`);
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
// The sources of that revision, unpacked beside (never over) the work tree's.
execFileSync('sh', ['-c', `git archive ${sha} services/otp/src | tar -x -C "${out}"`], {
  cwd: root,
});
const src = join(out, 'services', 'otp', 'src');
const dist = join(out, 'dist');
const swcrc = JSON.parse(readFileSync(join(root, '.swcrc'), 'utf8'));
delete swcrc.$schema;

async function* walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts') && !/\.(spec|test)\.ts$/.test(p)) yield p;
  }
}
for await (const file of walk(src)) {
  const target = join(dist, relative(src, file)).replace(/\.ts$/, '.js');
  const { code } = await transformFile(file, { ...swcrc, swcrc: false, filename: file });
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, code);
}
process.stdout.write(`${join(dist, 'main.js')}\n`);
