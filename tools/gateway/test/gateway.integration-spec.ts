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
    for (const family of [
      'verifications',
      'notifications',
      'messages',
      'carriers',
      'shipments',
      'couriers',
      'sessions',
      'password-resets',
      'authenticators',
      'backup-codes',
    ]) {
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
      seen.push({
        url: req.url,
        rid: String(req.headers['x-request-id']),
        xff: String(req.headers['x-forwarded-for']),
      });
      res.writeHead(201, { 'content-type': 'application/json' });
      req.pipe(res);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    gateway = await startGateway({
      port: 0,
      host: '127.0.0.1',
      upstreams: {
        identity: base,
        otp: 'http://127.0.0.1:1',
        notifier: base,
        'delivery-otp': base,
      },
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

  it('refuses a body over 1 MiB itself, as deploy/nginx does: sized (the service sees nothing of it) or chunked (cut at the limit)', async () => {
    const before = seen.length;
    const sized = await fetch(`http://127.0.0.1:${gateway.port}/v1/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(2 * 1024 * 1024, 0x20),
    });
    expect(sized.status).toBe(400);
    expect(await sized.json()).toMatchObject({ code: 'malformed_request', detail: 'request body too large' });
    expect(seen.length).toBe(before);
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new Uint8Array(128 * 1024).fill(0x20));
        controller.close();
      },
    });
    const chunked = await fetch(`http://127.0.0.1:${gateway.port}/v1/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: chunks,
      duplex: 'half',
    });
    expect(chunked.status).toBe(400);
    expect(await chunked.json()).toMatchObject({ code: 'malformed_request' });
  });

  it('answers a clear 503 problem when the service is down, and 404 for unknown routes', async () => {
    const down = await fetch(`http://127.0.0.1:${gateway.port}/v1/verifications`, {
      method: 'POST',
      body: '{}',
    });
    expect(down.status).toBe(503);
    expect(((await down.json()) as { code: string }).code).toBe('service_unavailable');
    const none = await fetch(`http://127.0.0.1:${gateway.port}/nope`);
    expect(none.status).toBe(404);
  });
});

describe('gateway in front of a slow or silent service', () => {
  let upstream: http.Server;
  let gateway: RunningGateway;
  /** The same, with a read timeout no test reaches (300 requests take a while to all arrive). */
  let patient: RunningGateway;
  const held: http.ServerResponse[] = [];

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      // /v1/accounts: held until the test lets go; /v1/verifications: never answered.
      if (req.url?.startsWith('/v1/accounts')) held.push(res);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    gateway = await startGateway({
      port: 0,
      host: '127.0.0.1',
      upstreams: { identity: base, otp: base, notifier: base, 'delivery-otp': base },
      upstreamTimeoutMs: 300,
    });
    patient = await startGateway({
      port: 0,
      host: '127.0.0.1',
      upstreams: { identity: base, otp: base, notifier: base, 'delivery-otp': base },
      upstreamTimeoutMs: 60_000,
    });
  });

  afterAll(async () => {
    for (const res of held) res.destroy();
    await gateway.close();
    await patient.close();
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
  });

  it('passes every request in flight on to the service at once: no queue of its own', async () => {
    const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
    const n = 300; // above the 256 connections a capped pool would allow
    const answers = Array.from(
      { length: n },
      () =>
        new Promise<number>((resolve, reject) => {
          const req = http.request(
            { host: '127.0.0.1', port: patient.port, path: '/v1/accounts', method: 'GET', agent },
            (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            },
          );
          req.on('error', reject);
          req.end();
        }),
    );
    const deadline = Date.now() + 5_000;
    while (held.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(held.length).toBe(n);
    for (const res of held.splice(0)) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    }
    expect(new Set(await Promise.all(answers))).toEqual(new Set([200]));
    agent.destroy();
  });

  it('answers a 503 problem with Retry-After when the service stays silent past the read timeout', async () => {
    const started = Date.now();
    const res = await fetch(`http://127.0.0.1:${gateway.port}/v1/verifications`, {
      method: 'POST',
      body: '{}',
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('retry-after')).toBe('1');
    expect(((await res.json()) as { code: string }).code).toBe('service_unavailable');
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('keeps idle client connections 65 s, as deploy/nginx does, and says so', async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const agent = new http.Agent({ keepAlive: true });
      const req = http.request(
        { host: '127.0.0.1', port: gateway.port, path: '/nope', agent },
        (r) => {
          r.resume();
          r.on('end', () => {
            agent.destroy();
            resolve(r);
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(res.headers['keep-alive']).toBe('timeout=65');
  });
});
