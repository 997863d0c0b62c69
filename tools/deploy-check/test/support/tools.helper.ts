import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { CORE_SCHEMA, load, loadAll, mergeTag } from 'js-yaml';

/** The repository root (tools/deploy-check/test/support → ../../../..). */
export const ROOT = resolve(__dirname, '..', '..', '..', '..');

export function repoPath(...parts: string[]): string {
  return join(ROOT, ...parts);
}

export function readRepoFile(...parts: string[]): string {
  return readFileSync(repoPath(...parts), 'utf8');
}

/** YAML with merge keys (`<<: *anchor`), as docker compose reads it. */
const YAML_SCHEMA = CORE_SCHEMA.withTags(mergeTag);

export function parseYaml<T = unknown>(text: string): T {
  return load(text, { schema: YAML_SCHEMA }) as T;
}

export function parseYamlDocuments<T = unknown>(text: string): T[] {
  return (loadAll(text, { schema: YAML_SCHEMA }) as (T | null | undefined)[]).filter(
    (d): d is T => d !== null && d !== undefined,
  );
}

/**
 * Absolute path of a command-line tool, from PATH or the sbin directories that
 * a non-root PATH often lacks (Debian puts nginx in /usr/sbin). Throws with the
 * way to install it: these tools are required, never optional.
 */
export function requireTool(name: string): string {
  const dirs = [
    ...(process.env['PATH'] ?? '').split(delimiter),
    '/usr/local/sbin',
    '/usr/sbin',
    '/sbin',
  ];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(
    `${name} is not installed: run deploy/install-tools.sh (Debian packages docker-compose, prometheus, nginx)`,
  );
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without a shell; resolves with its exit code and output (never rejects on a non-zero exit). */
export function run(
  file: string,
  args: readonly string[],
  options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd ?? ROOT,
        timeout: options.timeoutMs ?? 30_000,
        env: options.env ?? process.env,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(new Error(error.message, { cause: error }));
          return;
        }
        resolvePromise({
          code: error ? Number(error.code) : 0,
          stdout: String(stdout),
          stderr: String(stderr),
        });
      },
    );
  });
}

/** Polls until `fn` returns a truthy value or the deadline passes. */
export async function eventually<T>(
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 10_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `condition not met in ${timeoutMs} ms${last === undefined ? '' : `: ${last instanceof Error ? last.message : JSON.stringify(last)}`}`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The four services, their ports and databases: the facts every deploy file must agree on. */
export const SERVICES = [
  { name: 'identity', port: 3001, database: 'identity' },
  { name: 'otp', port: 3002, database: 'otp' },
  { name: 'notifier', port: 3003, database: 'notifier' },
  { name: 'delivery-otp', port: 3004, database: 'delivery' },
] as const;

export type ServiceName = (typeof SERVICES)[number]['name'];
