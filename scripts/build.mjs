#!/usr/bin/env node
// Compiles every workspace package's src/ to its dist/ with SWC (decorator
// metadata on, as NestJS and TypeORM need). Type-checking is `npm run typecheck`.
import { transformFile } from '@swc/core';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const swcrc = JSON.parse(await readFile(join(root, '.swcrc'), 'utf8'));
delete swcrc.$schema;

async function* walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts') && !/\.(spec|test)\.ts$/.test(p)) yield p;
  }
}

async function* packages() {
  for (const group of ['libs', 'services', 'tools']) {
    for (const entry of await readdir(join(root, group), { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory()) yield join(root, group, entry.name);
    }
  }
}

let files = 0;
const started = Date.now();
for await (const pkg of packages()) {
  const src = join(pkg, 'src');
  const out = join(pkg, 'dist');
  // dist/ is not wiped first: processes started from it (a bench, a running stack, another
  // engineer's test) keep working while it is rebuilt. Each file is replaced atomically and
  // left alone when unchanged; files no source produces any more are removed at the end.
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
        await put(target, `${code}\n//# sourceMappingURL=${target.split('/').pop()}.map\n`, produced);
        if (map) await put(`${target}.map`, map, produced);
      })(),
    );
  }
  await Promise.all(jobs);
  files += jobs.length;
  // Non-TypeScript assets (templates, pages, Lua scripts) travel with the code.
  for await (const asset of assets(src)) {
    await put(join(out, relative(src, asset)), await readFile(asset), produced);
  }
  await removeStale(out, produced);
}
process.stdout.write(`built ${files} files in ${Date.now() - started} ms\n`);

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
