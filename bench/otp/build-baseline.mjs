#!/usr/bin/env node
// Compiles services/otp/src as it was at a git revision into tmp/otp-<rev>/dist (tmp/ is
// ignored), for BENCH_OTP_BASELINE: the bench then measures that build next to the current
// one, round by round. The libraries are the current ones (node_modules → libs/*/dist).
//
//   node bench/otp/build-baseline.mjs <rev>     → prints the path of its main.js
import { execFileSync } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileTree } from '../../scripts/swc-tree.mjs';

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
// Compiled as `npm run build` compiles (scripts/swc-tree.mjs), assets included.
await compileTree(src, dist);
process.stdout.write(`${join(dist, 'main.js')}\n`);
