import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { upstreamFor, type Upstream } from './routes';

export interface GatewayOptions {
  port: number;
  host?: string;
  upstreams: Record<Upstream, string>;
  /** Extra prefixes served by another local handler (the dev inbox, for example). */
  extra?: { prefix: string; target: string }[];
  /**
   * How long an upstream may stay silent before the request is answered 503 (nginx's
   * `proxy_read_timeout 15s` in deploy/nginx, whose 504 becomes the same 503 problem). Default 15 s.
   */
  upstreamTimeoutMs?: number;
}

export interface RunningGateway {
  port: number;
  close(): Promise<void>;
}

/** Idle client connections are kept this long (nginx's `keepalive_timeout 65s`). */
const CLIENT_KEEP_ALIVE_MS = 65_000;
/** nginx's `client_max_body_size 1m` in deploy/nginx, and its answer beyond it. */
const MAX_BODY_BYTES = 1024 * 1024;
const TOO_LARGE = JSON.stringify({
  type: 'about:blank',
  title: 'Bad Request',
  status: 400,
  code: 'malformed_request',
  detail: 'request body too large',
});

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * A small reverse proxy for one machine: one origin for every public route,
 * as nginx is in compose. Keeps x-request-id (or makes one) and adds
 * X-Forwarded-For. Not a production gateway, but it behaves like deploy/nginx
 * where a crash drill can tell: no queue of its own in front of a slow
 * service (one upstream connection per request in flight, idle ones kept),
 * a 503 problem+json with Retry-After when a service refuses, resets or stays
 * silent past the read timeout, and idle client connections kept 65 s.
 */
/** nginx's answer to a body over `client_max_body_size`; the rest of the body is read and dropped. */
function tooLarge(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (!res.headersSent) {
    res.writeHead(400, { 'content-type': 'application/problem+json', connection: 'close' });
    res.end(TOO_LARGE);
  }
  req.resume();
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  // maxSockets unbounded: a capped pool would queue requests here behind a slow service
  // (measured: 5 s answers during a RabbitMQ outage became 17 s); nginx has no such queue.
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 });
  const upstreamTimeoutMs = options.upstreamTimeoutMs ?? 15_000;
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const extra = options.extra?.find((e) => url.startsWith(e.prefix));
    const upstream = upstreamFor(url);
    const target = extra?.target ?? (upstream ? options.upstreams[upstream] : undefined);
    if (!target) {
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'about:blank', title: 'Not Found', status: 404, code: 'not_found', detail: 'No such route.' }));
      return;
    }
    // The body is read whole first, as nginx does (`proxy_request_buffering on`), and one over
    // the limit is refused here: streamed on, a service that answered early (413) and closed
    // while the body was still being written made the gateway answer 503 instead.
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) return tooLarge(req, res);
    const chunks: Buffer[] = [];
    let received = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      received += chunk.length;
      if (received > MAX_BODY_BYTES) {
        refused = true;
        chunks.length = 0;
        tooLarge(req, res);
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      const body = Buffer.concat(chunks);
      const headers: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
      if (body.length > 0 || req.headers['content-length'] !== undefined) headers['content-length'] = body.length;
      headers['x-request-id'] = req.headers['x-request-id'] ?? randomUUID();
      const prior = req.headers['x-forwarded-for'];
      headers['x-forwarded-for'] = [prior, req.socket.remoteAddress].filter(Boolean).join(', ');
      const to = new URL(url, target);
      const proxied = http.request(
        { hostname: to.hostname, port: to.port, path: to.pathname + to.search, method: req.method, headers, agent },
        (upstreamRes) => {
          const out: http.OutgoingHttpHeaders = {};
          for (const [k, v] of Object.entries(upstreamRes.headers)) if (!HOP_BY_HOP.has(k)) out[k] = v;
          res.writeHead(upstreamRes.statusCode ?? 502, out);
          upstreamRes.pipe(res);
        },
      );
      proxied.setTimeout(upstreamTimeoutMs, () => proxied.destroy(new Error('upstream timeout')));
      proxied.on('error', () => {
        if (res.headersSent) return res.destroy();
        res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '1' });
        res.end(JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, code: 'service_unavailable', detail: `The ${upstream ?? 'upstream'} service is not answering.` }));
      });
      proxied.end(body);
    });
  });
  // Node's default is 5 s; a Node client whose agent has no `timeout` ignores the Keep-Alive
  // hint, keeps idle sockets for ever and, when busy, writes a request into one the gateway has
  // just closed: ECONNRESET with no fault anywhere (seen in the crash drills' control phase).
  server.keepAliveTimeout = CLIENT_KEEP_ALIVE_MS;
  server.headersTimeout = CLIENT_KEEP_ALIVE_MS + 1_000;
  await new Promise<void>((resolve) => server.listen(options.port, options.host ?? '0.0.0.0', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
