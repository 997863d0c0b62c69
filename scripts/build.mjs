#!/usr/bin/env node
// Compiles every workspace package's src/ to its dist/ with SWC (decorator
// metadata on, as NestJS and TypeORM need). Type-checking is `npm run typecheck`.
import { transformFile } from '@swc/core';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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
  await rm(out, { recursive: true, force: true });
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
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, `${code}\n//# sourceMappingURL=${target.split('/').pop()}.map\n`);
        if (map) await writeFile(`${target}.map`, map);
      })(),
    );
  }
  await Promise.all(jobs);
  files += jobs.length;
  // Non-TypeScript assets (templates, pages, Lua scripts) travel with the code.
  for await (const asset of assets(src)) {
    const target = join(out, relative(src, asset));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, await readFile(asset));
  }
}
process.stdout.write(`built ${files} files in ${Date.now() - started} ms\n`);

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
