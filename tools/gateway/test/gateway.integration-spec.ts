import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startGateway, upstreamFor, type RunningGateway } from '../src';

describe('gateway routes', () => {
  it.each([
    ['/v1/accounts', 'identity'],
    ['/v1/accounts/a1/phones/p1/verify', 'identity'],
    ['/v1/accounts/a1/authenticators/totp', 'otp'],
    ['/v1/accounts/a1/backup-codes', 'otp'],
    ['/v1/sessions/l1/verify', 'identity'],
    ['/v1/password-resets', 'identity'],
    ['/v1/verifications/v1/check', 'otp'],
    ['/v1/notifications', 'notifier'],
    ['/v1/messages/m1', 'notifier'],
    ['/v1/carriers', 'notifier'],
    ['/v1/shipments/s1/handoff', 'delivery-otp'],
    ['/v1/couriers/c1/devices', 'delivery-otp'],
  ])('%s → %s', (path, upstream) => {
    expect(upstreamFor(path)).toBe(upstream);
  });

  it('routes nothing else', () => {
    expect(upstreamFor('/v1/accountsx')).toBeUndefined();
    expect(upstreamFor('/admin')).toBeUndefined();
  });

  it('nginx.conf sends each route family to the same service', () => {
    const conf = readFileSync(join(__dirname, '../../../deploy/nginx/nginx.conf'), 'utf8');
    for (const family of ['verifications', 'notifications', 'messages', 'carriers', 'shipments', 'couriers', 'sessions', 'password-resets', 'authenticators', 'backup-codes']) {
      expect(conf).toContain(family);
    }
  });
});

describe('gateway proxy', () => {
  let upstream: http.Server;
  let gateway: RunningGateway;
  const seen: { url?: string; rid?: string; xff?: string }[] = [];

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      seen.push({ url: req.url, rid: String(req.headers['x-request-id']), xff: String(req.headers['x-forwarded-for']) });
      res.writeHead(201, { 'content-type': 'application/json' });
      req.pipe(res);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    gateway = await startGateway({
      port: 0,
      host: '127.0.0.1',
      upstreams: { identity: base, otp: 'http://127.0.0.1:1', notifier: base, 'delivery-otp': base },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await new Promise((r) => upstream.close(r));
  });

  it('forwards the body, keeps x-request-id and adds X-Forwarded-For', async () => {
    const res = await fetch(`http://127.0.0.1:${gateway.port}/v1/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'rid-123' },
      body: JSON.stringify({ a: 1 }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ a: 1 });
    expect(seen.at(-1)).toMatchObject({ url: '/v1/accounts', rid: 'rid-123' });
    expect(seen.at(-1)?.xff).toContain('127.0.0.1');
  });

  it('answers a clear 503 problem when the service is down, and 404 for unknown routes', async () => {
    const down = await fetch(`http://127.0.0.1:${gateway.port}/v1/verifications`, { method: 'POST', body: '{}' });
    expect(down.status).toBe(503);
    expect(((await down.json()) as { code: string }).code).toBe('service_unavailable');
    const none = await fetch(`http://127.0.0.1:${gateway.port}/nope`);
    expect(none.status).toBe(404);
  });
});
