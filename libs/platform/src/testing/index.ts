/**
 * Helpers for tests against the real infrastructure. Each test file gets its
 * own PostgreSQL database, RabbitMQ vhost and Redis key prefix, and removes
 * them afterwards, so files run in parallel without seeing each other.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { DomainError } from '../errors/domain-error';

const run = promisify(execFile);

export const TEST_INFRA = {
  pgAdminUrl: process.env['TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  amqpBase: process.env['TEST_AMQP_BASE'] ?? 'amqp://guest:guest@127.0.0.1:5672',
  redisUrl: process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
};

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

/** A fresh Redis key prefix for one test file. */
export function redisPrefix(): string {
  return `t:${randomBytes(6).toString('hex')}:`;
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix = 'pg_test'): Promise<TestDatabase> {
  const name = uniqueName(prefix).toLowerCase();
  const admin = new Client({ connectionString: TEST_INFRA.pgAdminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = TEST_INFRA.pgAdminUrl.replace(/\/[^/]*$/, `/${name}`);
  return {
    name,
    url,
    async drop() {
      const c = new Client({ connectionString: TEST_INFRA.pgAdminUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export interface TestVhost {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh RabbitMQ vhost with the guest user's permissions. */
export async function createTestVhost(prefix = 't'): Promise<TestVhost> {
  const name = uniqueName(prefix);
  await run('rabbitmqctl', ['-q', 'add_vhost', name]);
  await run('rabbitmqctl', ['-q', 'set_permissions', '-p', name, 'guest', '.*', '.*', '.*']);
  return {
    name,
    url: `${TEST_INFRA.amqpBase}/${encodeURIComponent(name)}`,
    async drop() {
      await run('rabbitmqctl', ['-q', 'delete_vhost', name]).catch(() => undefined);
    },
  };
}

/** Closes every client connection to a vhost from the broker's side. */
export async function closeVhostConnections(vhost: string, reason = 'test'): Promise<void> {
  await run('rabbitmqctl', ['-q', 'close_all_connections', '-p', vhost, reason]);
}

/** A pino destination that keeps every line, for tests that read the logs. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line) this.lines.push(line);
    done();
  }

  text(): string {
    return this.lines.join('\n');
  }
}

/** Polls until `fn` returns a truthy value or the deadline passes. */
export async function eventually<T>(fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Deletes every key under a test's prefix (SCAN + UNLINK on a raw client). */
export async function dropRedisPrefix(prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const raw = new Redis(TEST_INFRA.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await raw.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await raw.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    raw.disconnect();
  }
}

/** What a synchronous rule refused with (its DomainError's code and Retry-After), or undefined when it passed. */
export function refusalOf(run: () => unknown): { code: string; retryAfter: number | undefined } | undefined {
  try {
    run();
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    return { code: error.code, retryAfter: error.retryAfterSeconds };
  }
  return undefined;
}

const LABEL_63 = 'd'.repeat(63);

/** E-mail addresses over RFC 5321's size limits (local part 64, label 63, address 254 octets), each named. */
export const OVERSIZED_EMAILS: readonly (readonly [string, string])[] = [
  ['a 300-octet local part', `${'x'.repeat(300)}@example.com`],
  ['a 65-octet local part', `${'x'.repeat(65)}@example.com`],
  ['a 180-octet domain label', `ann@${'d'.repeat(180)}.com`],
  ['a 64-octet domain label', `ann@${LABEL_63}d.example.com`],
  ['a 255-octet address', `${'x'.repeat(64)}@${LABEL_63}.${LABEL_63}.${'e'.repeat(58)}.com`],
];
