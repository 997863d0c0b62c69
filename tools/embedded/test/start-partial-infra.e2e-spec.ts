/**
 * `npm start` with only some of RABBITMQ_URL, REDIS_URL and DATABASE_URL set
 * runs the embedded mode, which uses none of them: it must say so, naming what
 * is missing, rather than leave a user believing their database is in use.
 * (The port is held so that the embedded mode stops right after starting.)
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

jest.setTimeout(120_000);

const ROOT = join(__dirname, '../../..');

describe('npm start with part of the real stack configured', () => {
  let holder: http.Server;

  beforeAll(async () => {
    holder = http.createServer((_req, res) => res.end('someone else'));
    await new Promise<void>((r) => holder.listen(0, '0.0.0.0', r));
  });

  afterAll(async () => {
    await new Promise((r) => holder.close(r));
  });

  it('names the variables that are missing and that it runs the embedded mode', async () => {
    const port = (holder.address() as AddressInfo).port;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      PORT: String(port),
      LOG_LEVEL: 'warn',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
    };
    const child = spawn(process.execPath, [join(ROOT, 'scripts/start.mjs')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout?.resume();
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 90_000);
    await new Promise((r) => child.once('exit', r));
    clearTimeout(kill);

    const line = stderr.split('\n').find((l) => l.startsWith('npm start:'));
    expect(line).toBeDefined();
    expect(line).toContain('DATABASE_URL is set');
    expect(line).toContain('RABBITMQ_URL and REDIS_URL are not');
    expect(line).toContain('EMBEDDED');
  });
});
