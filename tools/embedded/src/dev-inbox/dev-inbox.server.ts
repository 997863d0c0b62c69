import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Fastify, { type FastifyReply } from 'fastify';
import type { DevInboxMessage, DevInboxSource, InboxItem, InboxStatus, MessageStatusLookup } from './dev-inbox.types';
import { MAX_LIMIT, matches, newestFirst, parseInboxQuery, toItem } from './inbox-query';
import { type StatusSnapshot, StatusTracker } from './status-tracker';

export type { DevInboxMessage, DevInboxSource, InboxItem, InboxStatus, MessageStatusLookup, MessageStatusView } from './dev-inbox.types';

/** Only what the inbox logs through: a pino logger fits. Never given a body, a code or a destination. */
export interface DevInboxLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface DevInboxOptions {
  /** The notifier's DevInboxCarrier, or anything with its `list()` and `message` event. */
  source: DevInboxSource;
  /** The notifier's view of a message (its GET /v1/messages/:messageId), for the status timeline. */
  messageStatus?: MessageStatusLookup;
  logger?: DevInboxLogger;
  /** Default 127.0.0.1 and an ephemeral port: the gateway forwards `/dev` here. */
  host?: string;
  port?: number;
  /** SSE keep-alive comment interval (default 15 s), so idle proxies keep the stream. */
  heartbeatMs?: number;
  /** Delays at which a new message's status is asked for again (see StatusTracker). */
  statusFollowUpMs?: readonly number[];
}

export interface RunningDevInbox {
  /** http://127.0.0.1:<port>, the gateway's `extra` target for the `/dev` prefix. */
  url: string;
  port: number;
  close(): Promise<void>;
}

const PAGE_DIR = join(__dirname, 'page');
/** A stream whose client stopped reading this far behind is dropped (its page reconnects and reloads). */
const MAX_STREAM_BACKLOG = 1 << 20;

interface Page {
  html: Buffer;
  css: Buffer;
  csp: string;
}

/**
 * The page, its style, and a Content-Security-Policy that lets only its own
 * inline script (by hash) and same-origin requests run: message bodies are
 * rendered as text, and even a slip would have nowhere to load from or send to.
 */
function loadPage(): Page {
  const html = readFileSync(join(PAGE_DIR, 'dev-inbox.html'), 'utf8');
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1] ?? '');
  const hashes = scripts.map((s) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`);
  const csp = [
    "default-src 'none'",
    `script-src ${hashes.join(' ')}`,
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html: Buffer.from(html, 'utf8'), css: readFileSync(join(PAGE_DIR, 'dev-inbox.css')), csp };
}

function problem(reply: FastifyReply, status: number, code: string, detail: string, extra: Record<string, unknown> = {}) {
  const title = STATUS_CODES[status] ?? 'Error';
  return reply
    .status(status)
    .header('content-type', 'application/problem+json')
    .send({ type: 'about:blank', title, status, detail, code, ...extra });
}

/**
 * The dev inbox of the one-process embedded mode: every message the
 * DevInboxCarrier took, as a page (GET /dev/inbox) that updates live over
 * Server-Sent Events (GET /dev/inbox/stream), as JSON (GET
 * /dev/inbox/messages, API.md "Dev and test endpoints"), and a "try it" panel
 * on the page that walks the main stories through the public API on the same
 * origin. Destinations are shown in full: it is the developer's own inbox.
 * Embedded mode only; never part of a production deployment.
 */
export async function startDevInbox(options: DevInboxOptions): Promise<RunningDevInbox> {
  const { source, logger } = options;
  const page = loadPage();
  const streams = new Set<ServerResponse>();
  /** Arrival order of messages seen through the `message` event (ties within one millisecond). */
  const seqById = new Map<string, number>();
  const idByMessageId = new Map<string, string>();
  let seq = 0;

  const send = (event: string, data: unknown) => {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of streams) {
      if (res.writableLength > MAX_STREAM_BACKLOG) {
        streams.delete(res);
        res.destroy();
        continue;
      }
      res.write(frame);
    }
  };

  const statusOf = (id: string, messageId: string, s: StatusSnapshot): InboxStatus => ({
    id,
    messageId,
    status: s.status,
    carrier: s.carrier,
    timeline: s.timeline,
  });

  const tracker = new StatusTracker({
    ...(options.messageStatus ? { lookup: options.messageStatus } : {}),
    ...(options.statusFollowUpMs ? { followUpMs: options.statusFollowUpMs } : {}),
    onChange: (messageId, snapshot) => {
      const id = idByMessageId.get(messageId);
      if (id) send('status', statusOf(id, messageId, snapshot));
    },
    onError: (error) => logger?.warn({ err: error instanceof Error ? error.message : String(error) }, 'dev inbox: message status lookup failed'),
  });

  const remember = (m: DevInboxMessage) => {
    if (!seqById.has(m.id)) seqById.set(m.id, seq++);
    idByMessageId.set(m.messageId, m.id);
    // Bounded like the carrier's own list: forget the oldest ids past a generous size.
    if (seqById.size > 4 * MAX_LIMIT) {
      const oldest = seqById.keys().next().value;
      if (oldest !== undefined) seqById.delete(oldest);
    }
    if (idByMessageId.size > 4 * MAX_LIMIT) {
      const oldest = idByMessageId.keys().next().value;
      if (oldest !== undefined) idByMessageId.delete(oldest);
    }
  };

  const onMessage = (m: DevInboxMessage) => {
    remember(m);
    send('message', toItem(m, tracker.cached(m.messageId)?.status));
    tracker.follow(m.messageId);
  };

  const all = (): DevInboxMessage[] => newestFirst(source.list({ limit: Number.MAX_SAFE_INTEGER }), (id) => seqById.get(id));

  const app = Fastify({ logger: false, forceCloseConnections: true, routerOptions: { ignoreTrailingSlash: true } });

  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  });

  app.get('/dev', async (_request, reply) => reply.redirect('/dev/inbox', 302));

  app.get('/dev/inbox', async (_request, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', page.csp)
      .header('x-frame-options', 'DENY')
      .send(page.html),
  );

  app.get('/dev/inbox/inbox.css', async (_request, reply) => reply.header('content-type', 'text/css; charset=utf-8').send(page.css));

  app.get('/dev/inbox/messages', async (request, reply) => {
    const parsed = parseInboxQuery((request.query ?? {}) as Record<string, unknown>);
    if (!parsed.ok) return problem(reply, 400, 'validation_failed', 'The query is not valid.', { errors: parsed.errors });
    const out: InboxItem[] = [];
    for (const m of all()) {
      if (out.length >= parsed.query.limit) break;
      if (matches(m, parsed.query)) out.push(toItem(m, tracker.cached(m.messageId)?.status));
    }
    return reply.send(out);
  });

  app.get<{ Params: { id: string } }>('/dev/inbox/messages/:id/status', async (request, reply) => {
    const message = all().find((m) => m.id === request.params.id);
    if (!message) return problem(reply, 404, 'not_found', 'No message with this id in the inbox.');
    idByMessageId.set(message.messageId, message.id);
    // Without the notifier's view (not wired, not answering), the carrier's own: delivered, no timeline.
    const snapshot = (await tracker.get(message.messageId)) ?? { status: message.status, carrier: message.carrier, timeline: [] };
    return reply.send(statusOf(message.id, message.messageId, snapshot));
  });

  app.get('/dev/inbox/stream', (request, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
    });
    res.write('retry: 2000\n\n');
    res.write(`event: ready\ndata: ${JSON.stringify({ at: new Date().toISOString() })}\n\n`);
    streams.add(res);
    res.on('close', () => streams.delete(res));
    request.raw.socket.setKeepAlive(true);
  });

  app.setNotFoundHandler((_request, reply) => problem(reply, 404, 'not_found', 'No such route.'));
  app.setErrorHandler((error, _request, reply) => {
    const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      return problem(reply, statusCode, 'bad_request', 'The request is not valid.');
    }
    logger?.warn({ err: error instanceof Error ? error.message : String(error) }, 'dev inbox: request failed');
    return problem(reply, 500, 'internal_error', 'The dev inbox failed to answer.');
  });

  for (const m of source.list({ limit: Number.MAX_SAFE_INTEGER })) idByMessageId.set(m.messageId, m.id);
  source.on('message', onMessage);

  const heartbeat = setInterval(() => {
    for (const res of streams) res.write(': keep-alive\n\n');
  }, options.heartbeatMs ?? 15_000);
  heartbeat.unref();

  let address: AddressInfo;
  try {
    await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
    address = app.server.address() as AddressInfo;
  } catch (error) {
    source.off('message', onMessage);
    clearInterval(heartbeat);
    tracker.close();
    throw error;
  }
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  logger?.info({ port: address.port }, 'dev inbox listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    close: () =>
      (closing ??= (async () => {
        source.off('message', onMessage);
        clearInterval(heartbeat);
        tracker.close();
        for (const res of streams) res.end();
        streams.clear();
        await app.close();
      })()),
  };
}
