/**
 * `npm start` when its port is taken (another program on 8080, a platform still
 * running): it says so at once, in one line that names the port and how to
 * choose another, and exits 1 — instead of starting every service and then
 * dying on the gateway's unhandled EADDRINUSE stack trace.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

jest.setTimeout(120_000);

const ROOT = join(__dirname, '../../..');

describe('npm start on a port in use', () => {
  let holder: http.Server;

  beforeAll(async () => {
    holder = http.createServer((_req, res) => res.end('someone else'));
    await new Promise<void>((r) => holder.listen(0, '0.0.0.0', r));
  });

  afterAll(async () => {
    await new Promise((r) => holder.close(r));
  });

  it('exits 1 before starting the services, naming the port and PORT', async () => {
    const port = (holder.address() as AddressInfo).port;
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'], PORT: String(port), LOG_LEVEL: 'info' };
    const child = spawn(process.execPath, [join(ROOT, 'scripts/start.mjs')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    clearTimeout(kill);

    expect(code).toBe(1);
    const fatal = output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; msg: string; service?: string })
      .filter((l) => l.level === 'fatal');
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.msg).toContain(`port ${port} is not available`);
    expect(fatal[0]!.msg).toContain('PORT=');
    // No service was started: none of them logged, and no raw stack trace.
    expect(output).not.toMatch(/"service":"(identity|otp|notifier|delivery-otp)"/);
    expect(output).not.toContain("Unhandled 'error' event");
  });
});
