import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT, type ServiceName, repoPath } from './tools.helper';

/**
 * What each service reads from its environment, taken from the code itself:
 * the zod schema its `src/config/<name>.config.ts` exports (keys = variable
 * names) and the service's own config loader, run in production mode with an
 * empty environment, for the variables production cannot do without. Plus the
 * few direct `process.env` reads of the shared libraries and the container
 * entry point, which every service container makes.
 */

/** What the schema does with a variable that is not set (outside production). */
export type DefaultOf =
  /** Takes this value: the text as written in the environment, before parsing. */
  | { kind: 'value'; value: string }
  /** Accepts "unset"; the code decides what that means (first key, all carriers...). */
  | { kind: 'optional' }
  /** Refuses to start. */
  | { kind: 'none' };

export interface ReadVariable {
  name: string;
  default: DefaultOf;
  /** The service refuses to start with NODE_ENV=production when it is unset. */
  productionRequired: boolean;
}

export interface ServiceEnv {
  service: ServiceName;
  /** The config module, relative to the repository root. */
  file: string;
  /** The variables of the service's schema, in schema order. */
  variables: Map<string, ReadVariable>;
}

/** Enough of a zod 4 schema to read its definition. */
interface ZodLike {
  _zod: {
    def: {
      type: string;
      defaultValue?: unknown;
      in?: ZodLike;
      innerType?: ZodLike;
    };
  };
  safeParse(value: unknown): { success: boolean };
  shape?: Record<string, ZodLike>;
}

const isZod = (value: unknown): value is ZodLike =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { _zod?: { def?: { type?: unknown } } })._zod?.def?.type === 'string';

/** The default of one schema entry, through the pipes and transforms the env helpers wrap it in. */
export function defaultOf(schema: ZodLike): DefaultOf {
  const def = schema._zod.def;
  switch (def.type) {
    case 'default':
    case 'prefault':
      return { kind: 'value', value: String(def.defaultValue) };
    case 'optional':
      return { kind: 'optional' };
    case 'pipe':
      return def.in ? defaultOf(def.in) : { kind: 'none' };
    case 'readonly':
    case 'nullable':
    case 'catch':
      return def.innerType ? defaultOf(def.innerType) : { kind: 'none' };
    default:
      // Whatever wraps it, if "unset" parses the code copes with it.
      return schema.safeParse(undefined).success ? { kind: 'optional' } : { kind: 'none' };
  }
}

export const configFileOf = (service: string) =>
  join('services', service, 'src', 'config', `${service}.config.ts`);

function configModule(service: string): Record<string, unknown> {
  // The path is the service's, known only at run time; Jest compiles the TypeScript it loads.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(repoPath(configFileOf(service))) as Record<string, unknown>;
}

/** The one exported `load…Config` function of the service's config module (what main.ts calls). */
export function loaderOf(service: string): (env: NodeJS.ProcessEnv) => unknown {
  const loaders = Object.entries(configModule(service)).filter(
    ([name, value]) => /^load\w*Config$/.test(name) && typeof value === 'function',
  );
  if (loaders.length !== 1)
    throw new Error(`${configFileOf(service)}: expected one exported load…Config function`);
  return loaders[0]![1] as (env: NodeJS.ProcessEnv) => unknown;
}

/**
 * The shape of the exported env schema: `<name>EnvSchema` or `<name>ConfigSchema`,
 * a zod object or a function of `production` returning one.
 */
function schemaShape(service: string, production: boolean): Record<string, ZodLike> {
  const file = configFileOf(service);
  const exported = Object.entries(configModule(service)).filter(([name]) =>
    /^[a-z]\w*(Env|Config)Schema$/.test(name),
  );
  if (exported.length !== 1)
    throw new Error(
      `${file}: expected one exported …EnvSchema or …ConfigSchema (a zod object, or a function (production: boolean) returning one); found ${exported.map(([n]) => n).join(', ') || 'none'}`,
    );
  const [name, value] = exported[0]!;
  const schema: unknown =
    typeof value === 'function' ? (value as (p: boolean) => unknown)(production) : value;
  if (!isZod(schema) || schema._zod.def.type !== 'object' || !schema.shape)
    throw new Error(`${file}: ${name} is not a zod object`);
  return schema.shape;
}

/** The variables the loader names when it refuses an environment that holds only NODE_ENV=production. */
function productionRequired(service: string): Set<string> {
  try {
    loaderOf(service)({ NODE_ENV: 'production' });
    return new Set();
  } catch (error) {
    const problems = (error as { problems?: unknown }).problems;
    if ((error as Error).name !== 'ConfigError' || !Array.isArray(problems)) throw error;
    return new Set(problems.map((p: { variable: string }) => p.variable));
  }
}

export function serviceEnv(service: ServiceName): ServiceEnv {
  const file = configFileOf(service);
  const dev = schemaShape(service, false);
  const production = schemaShape(service, true);
  const required = productionRequired(service);
  const variables = new Map<string, ReadVariable>();
  for (const name of new Set([...Object.keys(dev), ...Object.keys(production)])) {
    const schema = dev[name] ?? production[name]!;
    variables.set(name, {
      name,
      default: defaultOf(schema),
      productionRequired: required.has(name),
    });
  }
  for (const name of required) {
    if (!variables.has(name))
      throw new Error(
        `${file}: the loader requires "${name}" in production, but the exported schema has no such key`,
      );
  }
  // A service's own code outside its config module must not read the
  // environment (STYLE: one reader); if it does, the variable counts too.
  for (const name of directReads(repoPath('services', service, 'src'), ['config']).keys()) {
    if (!variables.has(name))
      variables.set(name, { name, default: { kind: 'optional' }, productionRequired: false });
  }
  return { service, file, variables };
}

/**
 * `process.env.X` and `process.env['X']` reads in the source files under
 * `dir` (tests, specs, testing helpers and the skipped subfolders left out):
 * variable → files. A read with a computed name cannot be listed, so it throws.
 */
export function directReads(dir: string, skip: readonly string[] = []): Map<string, string[]> {
  const reads = new Map<string, string[]>();
  const read =
    /process\.env(?:\?\.|\.)?(?:([A-Za-z_][A-Za-z0-9_]*)|\[\s*(['"`])([A-Za-z_][A-Za-z0-9_]*)\2\s*\]|(\[))?/g;
  for (const file of sourceFiles(dir, skip)) {
    const text = readFileSync(file, 'utf8');
    const where = relative(ROOT, file);
    for (const m of text.matchAll(read)) {
      if (m[4])
        throw new Error(`${where}: process.env[...] with a computed name; name the variable`);
      const name = m[1] ?? m[3];
      if (!name) continue; // process.env passed on as a whole
      reads.set(name, [...(reads.get(name) ?? []), where]);
    }
    if (/\}\s*=\s*process\.env\b/.test(text))
      throw new Error(`${where}: destructures process.env; read each variable by name`);
  }
  return reads;
}

function sourceFiles(dir: string, skip: readonly string[]): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      if (['node_modules', 'dist', 'test', 'testing', ...skip].includes(entry)) return [];
      return sourceFiles(path, []);
    }
    return /\.(ts|js|cjs|mjs)$/.test(entry) && !/\.(spec|test|d)\.[cm]?[jt]s$/.test(entry)
      ? [path]
      : [];
  });
}

/**
 * Variables every service container reads outside the services' schemas: the
 * shared libraries (libs/<lib>/src) and the image's entry point and
 * health check (deploy/docker). Variable → files.
 */
export function sharedReads(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (reads: Map<string, string[]>) => {
    for (const [name, files] of reads) out.set(name, [...(out.get(name) ?? []), ...files]);
  };
  for (const lib of readdirSync(repoPath('libs'))) {
    const src = repoPath('libs', lib, 'src');
    try {
      if (!statSync(src).isDirectory()) continue;
    } catch {
      continue;
    }
    add(directReads(src));
  }
  add(directReads(repoPath('deploy', 'docker')));
  return out;
}
