// SWC compilation of one source tree to its output directory, shared by scripts/build.mjs
// (every workspace package) and bench/otp/build-baseline.mjs (an older revision's sources).
import { transformFile } from '@swc/core';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const swcrc = JSON.parse(await readFile(join(root, '.swcrc'), 'utf8'));
delete swcrc.$schema;

/**
 * Compiles `src`'s TypeScript (not specs) to `out` with source maps, and copies its assets
 * (templates, pages, Lua scripts). `out` is not wiped first: processes started from it (a
 * bench, a running stack, another engineer's test) keep working while it is rebuilt. Each
 * file is replaced atomically and left alone when unchanged; files no source produces any
 * more are removed at the end. Returns the number of TypeScript files compiled.
 */
export async function compileTree(src, out) {
  const produced = new Set();
  const jobs = [];
  for await (const file of safeWalk(src)) {
    const target = join(out, relative(src, file)).replace(/\.ts$/, '.js');
    jobs.push(
      (async () => {
        const { code, map } = await transformFile(file, {
          ...swcrc,
          swcrc: false,
          filename: file,
          sourceFileName: relative(dirname(target), file),
        });
        await put(
          target,
          `${code}\n//# sourceMappingURL=${target.split('/').pop()}.map\n`,
          produced,
        );
        if (map) await put(`${target}.map`, map, produced);
      })(),
    );
  }
  await Promise.all(jobs);
  // Non-TypeScript assets (templates, pages, Lua scripts) travel with the code.
  for await (const asset of assets(src)) {
    await put(join(out, relative(src, asset)), await readFile(asset), produced);
  }
  await removeStale(out, produced);
  return jobs.length;
}

async function* walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts') && !/\.(spec|test)\.ts$/.test(p)) yield p;
  }
}

/** Writes `target` atomically (temp file + rename), unless it already holds `content`. */
async function put(target, content, produced) {
  produced.add(target);
  const next = Buffer.isBuffer(content) ? content : Buffer.from(content);
  const current = await readFile(target).catch(() => undefined);
  if (current && current.equals(next)) return;
  await mkdir(dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  await writeFile(tmp, next);
  await rename(tmp, target);
}

/** Deletes what no source produced any more (a renamed or deleted file's output). */
async function removeStale(dir, produced) {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) await removeStale(p, produced);
    else if (!produced.has(p)) await rm(p, { force: true });
  }
}

async function* assets(dir) {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) yield* assets(p);
    else if (/\.(lua|html|css|json|hbs|txt|sql)$/.test(p)) yield p;
  }
}

async function* safeWalk(dir) {
  try {
    await readdir(dir);
  } catch {
    return;
  }
  yield* walk(dir);
}
