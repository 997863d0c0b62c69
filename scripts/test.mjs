#!/usr/bin/env node
// `npm test`: builds every package (services under test run as real processes
// from dist/), prepares the local infrastructure the tests need, then runs
// every jest project together. Extra arguments go to jest.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args, extraEnv = {}) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...extraEnv } });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

run(process.execPath, [join(root, 'scripts/build.mjs')]);
// Type-check the whole repo (SWC compiles without checking types).
run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json'), '--noEmit']);
run(process.execPath, [join(root, 'scripts/prepare-infra.mjs')]);
const args = process.argv.slice(2);
const workers = process.env.JEST_WORKERS ?? '2';
mkdirSync(join(root, 'artifacts'), { recursive: true });
const report = join(root, 'artifacts/jest-results.json');
const jest = spawnSync(
  process.execPath,
  [join(root, 'node_modules/jest/bin/jest.js'), '--ci', `--maxWorkers=${workers}`, '--json', `--outputFile=${report}`, ...args],
  { cwd: root, stdio: 'inherit', env: { ...process.env, TZ: 'UTC', NODE_ENV: 'test' } },
);
// One plain closing line for whoever reads the log.
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  process.stdout.write(`\ntests: ${r.numPassedTests} passed, ${r.numFailedTests} failed\n`);
}
process.exit(jest.status ?? 1);
