import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_ROUTES, PRIVATE_PATHS } from './support/api-routes';
import {
  SERVICES,
  type ServiceName,
  eventually,
  readRepoFile,
  requireTool,
} from './support/tools.helper';

/** What a fake upstream saw of one request. */
interface Seen {
  service: ServiceName;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * deploy/nginx/nginx.conf with only what cannot work on a test machine
 * replaced: upstream host names (compose / Kubernetes service names) by the
 * fake upstreams, the listen port, and /tmp by a private directory. Each
 * replacement must hit exactly the expected number of lines, so the test
 * notices when the file changes shape.
 */
function testConfig(
  conf: string,
  ports: Record<ServiceName, number>,
  listen: number,
  dir: string,
): string {
  const replace = (text: string, pattern: RegExp, by: string, expected: number): string => {
    const hits = text.match(new RegExp(pattern.source, 'gm'))?.length ?? 0;
    if (hits !== expected)
      throw new Error(`nginx.conf: expected ${expected} match(es) of ${pattern}, found ${hits}`);
    return text.replace(new RegExp(pattern.source, 'gm'), by);
  };
  let out = conf;
  for (const { name, port } of SERVICES) {
    out = replace(
      out,
      new RegExp(`^(\\s*)server ${name}:${port};$`),
      `$1server 127.0.0.1:${ports[name]};`,
      1,
    );
  }
  out = replace(out, /^(\s*)listen 8080;$/, `$1listen 127.0.0.1:${listen};`, 1);
  out = out.replaceAll('/tmp/', `${dir}/`);
  return out;
}

describe('deploy/nginx/nginx.conf (the gateway), run by a real nginx', () => {
  const conf = readRepoFile('deploy/nginx/nginx.conf');
  const seen: Seen[] = [];
  const upstreams = new Map<ServiceName, Server>();
  const ports = {} as Record<ServiceName, number>;
  let dir: string;
  let nginx: ChildProcess;
  let nginxBin: string;
  let gatewayPort: number;
  let confPath: string;
  let logPath: string;
  const nginxLog = () => readFileSync(logPath, 'utf8').split('\n').filter(Boolean);

  beforeAll(async () => {
    nginxBin = requireTool('nginx');
    for (const { name } of SERVICES) {
      const server = createServer((req, res) => {
        seen.push({
          service: name,
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
        });
        req.resume();
        req.on('end', () => {
          // A service sets its own x-request-id; the gateway must still answer with exactly one.
          res.setHeader('x-request-id', 'set-by-upstream');
          if ((req.url ?? '').includes('/missing')) {
            res.statusCode = 404;
            res.setHeader('content-type', 'application/problem+json');
            res.end(JSON.stringify({ status: 404, code: 'not_found', detail: `from ${name}` }));
            return;
          }
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ service: name }));
        });
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      upstreams.set(name, server);
      ports[name] = (server.address() as AddressInfo).port;
    }
    dir = mkdtempSync(join(tmpdir(), 'gateway-'));
    chmodSync(dir, 0o777); // nginx workers run as `nobody` when the test runs as root
    gatewayPort = await freePort();
    confPath = join(dir, 'nginx.conf');
    writeFileSync(confPath, testConfig(conf, ports, gatewayPort, dir));
    // nginx opens /dev/stdout for its access log, which works on a file or a
    // pipe (as in a container) but not on the socket Node would give it.
    logPath = join(dir, 'nginx.log');
    const log = openSync(logPath, 'a');
    nginx = spawn(nginxBin, ['-p', dir, '-e', 'stderr', '-c', confPath, '-g', 'daemon off;'], {
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    await eventually(async () => (await send('GET', '/healthz')).status === 200, 10_000);
  }, 20_000);

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      nginx.kill('SIGQUIT');
      await once(nginx, 'exit');
    }
    for (const server of upstreams.values()) {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    rmSync(dir, { recursive: true, force: true });
  }, 20_000);

  function send(
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: Buffer,
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: gatewayPort, method, path, headers, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              rawHeaders: res.rawHeaders,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  async function routedTo(
    method: string,
    path: string,
    headers: Record<string, string> = {},
  ): Promise<{ answer: Answer; upstream: Seen | undefined }> {
    const before = seen.length;
    const answer = await send(
      method,
      path,
      { 'content-type': 'application/json', ...headers },
      method === 'GET' ? undefined : Buffer.from('{}'),
    );
    return { answer, upstream: seen.slice(before).at(-1) };
  }

  it('passes `nginx -t`', () => {
    const out = join(dir, 'nginx-t.log');
    const fd = openSync(out, 'w');
    const result = spawnSync(nginxBin, ['-p', dir, '-e', 'stderr', '-t', '-c', confPath], {
      stdio: ['ignore', fd, fd],
      timeout: 10_000,
    });
    closeSync(fd);
    expect(readFileSync(out, 'utf8')).toContain('test is successful');
    expect(result.status).toBe(0);
  });

  const routes: [string, string, ServiceName][] = [
    ...API_ROUTES.map(([m, p, svc]): [string, string, ServiceName] => [m, p, svc]),
    // Near misses of the otp routes under /v1/accounts stay with identity.
    ['GET', '/v1/accounts/authenticators', 'identity'],
    ['GET', '/v1/accounts/3c2d1e0f/authenticators-old', 'identity'],
  ];

  it.each(routes)('%s %s goes to %s, unchanged', async (method, path, service) => {
    const { answer, upstream } = await routedTo(method, path);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ service });
    expect(upstream).toMatchObject({ service, method, url: path });
  });

  it.each(PRIVATE_PATHS.map((p) => [p]))(
    '%s is not routed anywhere: 404 problem+json from the gateway',
    async (path) => {
      const before = seen.length;
      const answer = await send('GET', path);
      expect(seen.length).toBe(before);
      expect(answer.status).toBe(404);
      expect(answer.headers['content-type']).toBe('application/problem+json');
      expect(JSON.parse(answer.body)).toMatchObject({ status: 404, code: 'not_found' });
      expect(answer.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    },
  );

  it('passes a service’s own error answer through untouched', async () => {
    const { answer, upstream } = await routedTo('GET', '/v1/messages/missing');
    expect(upstream?.service).toBe('notifier');
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body)).toEqual({
      status: 404,
      code: 'not_found',
      detail: 'from notifier',
    });
  });

  it('keeps the caller’s x-request-id, towards the service and in the one x-request-id of the answer', async () => {
    const { answer, upstream } = await routedTo('POST', '/v1/verifications', {
      'x-request-id': 'req-7f3a.42:b',
    });
    expect(upstream?.headers['x-request-id']).toBe('req-7f3a.42:b');
    const ids = answer.rawHeaders.filter(
      (_, i) => i % 2 === 0 && answer.rawHeaders[i]!.toLowerCase() === 'x-request-id',
    );
    expect(ids).toHaveLength(1);
    expect(answer.headers['x-request-id']).toBe('req-7f3a.42:b');
  });

  it('makes an x-request-id when the caller sent none, or one that is not a sane token', async () => {
    const cases: Record<string, string>[] = [
      {},
      { 'x-request-id': 'x'.repeat(129) },
      { 'x-request-id': 'a b' },
      { 'x-request-id': 'a"}{' },
    ];
    for (const headers of cases) {
      const { answer, upstream } = await routedTo('POST', '/v1/sessions', headers);
      const id = upstream?.headers['x-request-id'];
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      expect(answer.headers['x-request-id']).toBe(id);
    }
  });

  it('passes the client address as X-Forwarded-For and X-Real-IP', async () => {
    const { upstream } = await routedTo('GET', '/v1/carriers');
    expect(upstream?.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(upstream?.headers['x-real-ip']).toBe('127.0.0.1');
  });

  it('takes the client address from a trusted proxy’s X-Forwarded-For, ignoring what the client forged before it', async () => {
    // A load balancer in a private range appended the real client (203.0.113.7)
    // to a header in which the client had put 6.6.6.6 itself.
    const { upstream } = await routedTo('GET', '/v1/carriers', {
      'x-forwarded-for': '6.6.6.6, 203.0.113.7',
    });
    expect(upstream?.headers['x-forwarded-for']).toBe('203.0.113.7');
    expect(upstream?.headers['x-real-ip']).toBe('203.0.113.7');
  });

  it('refuses a body over 1 MiB itself, as problem+json', async () => {
    const before = seen.length;
    const answer = await send(
      'POST',
      '/v1/notifications',
      { 'content-type': 'application/json' },
      Buffer.alloc(2 * 1024 * 1024, 0x20),
    );
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 400, code: 'malformed_request' });
    expect(seen.length).toBe(before);
  });

  it('writes JSON access-log lines with the request id and without query strings or headers', async () => {
    await routedTo('GET', '/v1/shipments/s1/code?accountId=3c2d1e0f', {
      'x-request-id': 'log-check-1',
      authorization: 'Bearer very-secret',
    });
    const line = await eventually(
      async () => nginxLog().find((l) => l.includes('log-check-1')),
      5_000,
    );
    const entry = JSON.parse(line) as Record<string, unknown>;
    expect(entry).toMatchObject({
      requestId: 'log-check-1',
      method: 'GET',
      path: '/v1/shipments/s1/code',
      status: 200,
    });
    expect(line).not.toContain('very-secret');
    expect(line).not.toContain('accountId');
  });

  it('answers 503 service_unavailable with Retry-After when a service is down', async () => {
    const server = upstreams.get('delivery-otp')!;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    const answer = await send('POST', '/v1/shipments/s1/cancel', { 'x-request-id': 'down-1' });
    expect(answer.status).toBe(503);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.headers['retry-after']).toBe('1');
    expect(answer.headers['x-request-id']).toBe('down-1');
    expect(JSON.parse(answer.body)).toMatchObject({ status: 503, code: 'service_unavailable' });
  });
});

describe('the Kubernetes gateway configuration', () => {
  it('is the same nginx.conf as docker compose uses', () => {
    expect(readRepoFile('deploy/k8s/base/gateway/nginx.conf')).toBe(
      readRepoFile('deploy/nginx/nginx.conf'),
    );
  });
});
