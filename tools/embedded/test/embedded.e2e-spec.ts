/**
 * `npm start` with no infrastructure: boots the real command (scripts/start.mjs
 * → the embedded mode), then walks the main stories over HTTP through its one
 * origin, reading codes from the dev inbox as a developer would. It also checks
 * that the process never connected to PostgreSQL, Redis or RabbitMQ.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { freePort } from '@phonegate/stack';

jest.setTimeout(240_000);

const ROOT = join(__dirname, '../../..');
const KEY = { authorization: 'Bearer dev', 'content-type': 'application/json' };

describe('npm start without infrastructure (embedded mode)', () => {
  let child: ChildProcess;
  let base: string;
  let output = '';

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'], PORT: String(port), LOG_LEVEL: 'warn' };
    child = spawn(process.execPath, [join(ROOT, 'scripts/start.mjs')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 180_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}: ${output.slice(-2000)}`);
      try {
        const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(1_000) });
        if (res.ok) break;
      } catch {
        // not yet
      }
      if (Date.now() > deadline) throw new Error(`embedded mode not up: ${output.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = KEY) {
    const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test bodies are read loosely
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
  }

  // Each message's code is handed out once, so a slow new SMS is waited for instead of the last one being read again.
  const used = new Set<string>();
  async function codeFor(to: string, after = 0): Promise<string> {
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${base}/dev/inbox/messages?to=${encodeURIComponent(to)}&limit=20`);
      const list = (await res.json()) as { id: string; body: string; createdAt: string }[];
      const fresh = list.find((m) => !used.has(m.id) && Date.parse(m.createdAt) >= after && /#(\d{4,10})\s*$/.test(m.body));
      if (fresh) {
        used.add(fresh.id);
        return /#(\d{4,10})\s*$/.exec(fresh.body)![1]!;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`no code for ${to}; the platform's output ends:\n${output.slice(-3000)}`);
  }

  it('says loudly, in its start-up output and /health, that it is not for production', async () => {
    expect(output).toMatch(/NOT FOR PRODUCTION/);
    expect(output).toContain('/dev/inbox');
    const health = await call('GET', '/health');
    expect(health.body).toMatchObject({ mode: 'embedded', production: false });
  });

  it('lets the one dev key the banner names into every service, the notifier too', async () => {
    expect(output).toContain('Authorization: Bearer dev ');
    expect((await call('GET', '/v1/carriers')).status).toBe(200);
    expect((await call('GET', '/v1/carriers', undefined, { authorization: 'Bearer nope' })).status).toBe(401);
  });

  it('registers and verifies a number, then signs in from a new device with a code', async () => {
    const email = `e2e-${randomBytes(4).toString('hex')}@example.com`;
    const password = 'a long enough passphrase';
    const number = `+1415555${String(1000 + Math.floor(Math.random() * 8999))}`;
    const account = await call('POST', '/v1/accounts', { email, password });
    expect(account.status).toBe(201);
    const id = account.body['id'] as string;

    const t0 = Date.now() - 1_000;
    const added = await call('POST', `/v1/accounts/${id}/phones`, { number });
    expect(added.status).toBe(202);
    const verified = await call('POST', `/v1/accounts/${id}/phones/${added.body['phoneId']}/verify`, { code: await codeFor(number, t0) });
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ status: 'verified', primary: true });

    expect((await call('PUT', `/v1/accounts/${id}/two-step`, { enabled: true, method: 'sms' })).status).toBe(200);
    const t1 = Date.now() - 1_000;
    const device = { id: `dev-${randomBytes(3).toString('hex')}`, ip: '203.0.113.9', name: 'e2e' };
    const challenged = await call('POST', '/v1/sessions', { email, password, device });
    expect(challenged.status).toBe(202);
    const done = await call('POST', `/v1/sessions/${challenged.body['loginId']}/verify`, { code: await codeFor(number, t1), rememberDevice: true });
    expect(done.status).toBe(201);
    expect(typeof done.body['sessionToken']).toBe('string');
    const again = await call('POST', '/v1/sessions', { email, password, device });
    expect(again.status).toBe(201);
  });

  it('issues a delivery code and a courier device confirms the handoff at the door', async () => {
    const courierId = `c-${randomBytes(3).toString('hex')}`;
    const shipmentId = `s-${randomBytes(3).toString('hex')}`;
    const phone = `+1415556${String(1000 + Math.floor(Math.random() * 8999))}`;
    const device = await call('POST', `/v1/couriers/${courierId}/devices`, {});
    expect(device.status).toBe(201);
    const t0 = Date.now() - 1_000;
    const now = Date.now();
    const out = await call('POST', `/v1/shipments/${shipmentId}/out-for-delivery`, {
      orderId: `o-${shipmentId}`,
      accountId: `acct-${shipmentId}`,
      contact: { phone },
      courierId,
      window: { start: new Date(now - 60_000).toISOString(), end: new Date(now + 3_600_000).toISOString() },
    });
    expect(out.status).toBe(201);
    expect(JSON.stringify(out.body)).not.toMatch(/"code"/);
    const code = await codeFor(phone, t0);
    const shown = await call('GET', `/v1/shipments/${shipmentId}/code?accountId=acct-${shipmentId}`);
    expect(shown.body['code']).toBe(code);
    const deviceKey = { authorization: `Bearer ${device.body['secret']}`, 'content-type': 'application/json' };
    const handoff = await call('POST', `/v1/shipments/${shipmentId}/handoff`, { code, at: new Date().toISOString() }, deviceKey);
    expect(handoff.status).toBe(200);
    expect(handoff.body['status']).toBe('handed_off');
    const second = await call('POST', `/v1/shipments/${shipmentId}/handoff`, { code, at: new Date().toISOString() }, deviceKey);
    expect(second.status).toBe(409);
  });

  it('never connected to PostgreSQL, Redis or RabbitMQ', () => {
    const pids = [child.pid, ...descendants(child.pid!)].filter(Boolean).map(String);
    const sockets = execFileSync('ss', ['-tnpH', 'state', 'established'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => pids.some((p) => l.includes(`pid=${p},`)));
    const infra = sockets.filter((l) => /:(5432|6379|5672)\s/.test(l.split(/\s+/).slice(3, 5).join(' ') + ' '));
    expect(sockets.length).toBeGreaterThan(0);
    expect(infra).toEqual([]);
  });

  it('SIGTERM to `npm start` stops the platform too: nothing is left running or listening', async () => {
    const pids = descendants(child.pid!);
    expect(pids.length).toBeGreaterThan(0);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await eventuallyGone(pids);
    await expect(fetch(`${base}/health`, { signal: AbortSignal.timeout(1_000) })).rejects.toThrow();
  }, 30_000);
});

async function eventuallyGone(pids: number[]): Promise<void> {
  const alive = () =>
    pids.filter((p) => {
      try {
        process.kill(p, 0);
        return true;
      } catch {
        return false;
      }
    });
  const deadline = Date.now() + 20_000;
  while (alive().length > 0) {
    if (Date.now() > deadline) throw new Error(`still running after npm start exited: ${alive().join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function descendants(pid: number): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' });
  const pairs = out.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of pairs) {
      if (pp === p) {
        found.push(c);
        walk(c);
      }
    }
  };
  walk(pid);
  return found;
}
