#!/usr/bin/env node
// Runs a TypeScript file straight from source, no build step, for benches and
// scripts. Shared: any bench may use it.
//
//   node bench/run-ts.js bench/bus/run.ts [args...]
//   node -r ./bench/run-ts.js other-script.ts        (as a preload: only registers the hooks)
//
// - `.ts` files outside node_modules are compiled on load with @swc/core and
//   the repo's .swcrc (decorators + metadata, CommonJS), like `npm run build`.
// - `@phonegate/<pkg>` resolves to libs/<pkg>/src/index.ts (or tools/<pkg>/src),
//   `@phonegate/<pkg>/<path>` to libs/<pkg>/src/<path>.ts, like the Jest mapper
//   and the tsconfig paths, so nothing needs `npm run build` or workspace links.
// - ESM-only dependencies (NestJS 12) load through Node's require(esm) (Node >= 20.19).
'use strict';
const Module = require('node:module');
const { existsSync, readFileSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { transformSync } = require('@swc/core');

const root = resolve(__dirname, '..');
const swcrc = JSON.parse(readFileSync(join(root, '.swcrc'), 'utf8'));
delete swcrc.$schema;

if (!require.extensions['.ts']) {
  require.extensions['.ts'] = (module, filename) => {
    if (filename.includes(`${require('node:path').sep}node_modules${require('node:path').sep}`)) {
      throw new Error(`run-ts: refusing to compile TypeScript inside node_modules: ${filename}`);
    }
    const { code } = transformSync(readFileSync(filename, 'utf8'), {
      ...swcrc,
      swcrc: false,
      filename,
      sourceMaps: 'inline',
      module: { type: 'commonjs' },
    });
    module._compile(code, filename);
  };

  const packageDir = (name) => {
    for (const group of ['libs', 'tools', 'services']) {
      const dir = join(root, group, name, 'src');
      if (existsSync(dir)) return dir;
    }
    return undefined;
  };
  const originalResolve = Module._resolveFilename;
  Module._resolveFilename = function resolvePhonegate(request, parent, isMain, options) {
    const match = /^@phonegate\/([^/]+)(?:\/(.+))?$/.exec(request);
    const dir = match && packageDir(match[1]);
    if (dir) request = match[2] ? join(dir, match[2]) : join(dir, 'index.ts');
    return originalResolve.call(this, request, parent, isMain, options);
  };
}

if (require.main === module) {
  const script = process.argv[2];
  if (!script) {
    process.stderr.write('usage: node bench/run-ts.js <file.ts> [args...]\n');
    process.exit(2);
  }
  process.argv.splice(1, 1); // the script sees itself as argv[1]
  require(resolve(script));
}
