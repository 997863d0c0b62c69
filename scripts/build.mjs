#!/usr/bin/env node
// Compiles every workspace package's src/ to its dist/ with SWC (decorator
// metadata on, as NestJS and TypeORM need). Type-checking is `npm run typecheck`.
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileTree } from './swc-tree.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

async function* packages() {
  for (const group of ['libs', 'services', 'tools']) {
    for (const entry of await readdir(join(root, group), { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory()) yield join(root, group, entry.name);
    }
  }
}

let files = 0;
const started = Date.now();
for await (const pkg of packages()) files += await compileTree(join(pkg, 'src'), join(pkg, 'dist'));
process.stdout.write(`built ${files} files in ${Date.now() - started} ms\n`);
