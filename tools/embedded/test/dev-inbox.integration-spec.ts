/**
 * The dev inbox server on its own, fed by a stand-in source (an EventEmitter
 * with `list()`, the DevInboxCarrier's surface) and a stand-in status lookup:
 * the JSON list's shape, order and filters, the page and its banner, the
 * Server-Sent Events stream (direct and through the gateway, as embedded mode
 * serves it), and logs free of bodies, codes and numbers.
 */
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import { startGateway, type RunningGateway } from '@phonegate/gateway';
import { createLogger } from '@phonegate/platform';
import { eventually, LogCapture } from '@phonegate/platform/testing';
import { startDevInbox, type DevInboxMessage, type MessageStatusView, type RunningDevInbox } from '../src/dev-inbox/dev-inbox.server';

class FakeSource extends EventEmitter {
  readonly messages: DevInboxMessage[] = [];
  /** Oldest first, ignoring the query: the server must sort and cut itself. */
  list(): DevInboxMessage[] {
    return [...this.messages];
  }
  push(over: Partial<DevInboxMessage> = {}): DevInboxMessage {
    const m: DevInboxMessage = {
      id: randomUUID(),
      channel: 'sms',
      to: '+14155550123',
      body: 'hello',
      status: 'delivered',
      carrier: 'dev-inbox',
      createdAt: new Date().toISOString(),
      messageId: randomUUID(),
      ...over,
    };
    this.messages.push(m);
    this.emit('message', m);
    return m;
  }
}

interface SseEvent {
  event: string;
  data: unknown;
}

/** A minimal EventSource over node:http: collects every event until closed. */
function openStream(url: string): Promise<{ events: SseEvent[]; headers: http.IncomingHttpHeaders; close(): void }> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    const req = http.get(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of frame.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) events.push({ event, data: JSON.parse(data.join('\n')) as unknown });
        }
      });
      res.on('error', () => undefined);
      resolve({ events, headers: res.headers, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

const T0 = Date.parse('2025-03-01T10:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

describe('dev inbox server', () => {
  const source = new FakeSource();
  const capture = new LogCapture();
  const statuses = new Map<string, MessageStatusView>();
  const lookups: string[] = [];
  let inbox: RunningDevInbox;
  let gateway: RunningGateway;
  let older: DevInboxMessage;
  let newer: DevInboxMessage;
  let mail: DevInboxMessage;
  let voice: DevInboxMessage;

  beforeAll(async () => {
    older = source.push({ createdAt: at(1), body: 'Phone verification code: 111111. Never share it.\n@localhost #111111' });
    mail = source.push({
      createdAt: at(2),
      channel: 'email',
      to: 'dev.someone@example.com',
      subject: 'Your Shop sign-in code',
      body: 'Your sign-in code is 222222.\n\n@localhost #222222',
      from: 'Shop <no-reply@shop.test>',
    });
    voice = source.push({ createdAt: at(3), channel: 'voice', to: '+14155550199', body: 'Your Shop sign-in code is 3, 3, 3, 3, 3, 3.' });
    newer = source.push({ createdAt: at(4), body: 'Your sign-in code is 444444. Never share it.\n@localhost #444444' });
    statuses.set(newer.messageId, {
      status: 'delivered',
      carrier: 'dev-inbox',
      timeline: [
        { status: 'queued', at: at(4) },
        { status: 'sending', at: at(4) },
        { status: 'sent', at: at(4), carrier: 'dev-inbox' },
        { status: 'delivered', at: at(4), carrier: 'dev-inbox' },
      ],
    });
    inbox = await startDevInbox({
      source,
      logger: createLogger({ service: 'embedded', level: 'debug', destination: capture }),
      messageStatus: async (messageId) => {
        lookups.push(messageId);
        return statuses.get(messageId);
      },
      statusFollowUpMs: [20, 60, 150],
      heartbeatMs: 200,
    });
    gateway = await startGateway({
      port: 0,
      host: '127.0.0.1',
      upstreams: { identity: 'http://127.0.0.1:9', otp: 'http://127.0.0.1:9', notifier: 'http://127.0.0.1:9', 'delivery-otp': 'http://127.0.0.1:9' },
      extra: [{ prefix: '/dev', target: inbox.url }],
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await inbox?.close();
  });

  const get = async (path: string, base = inbox.url) => {
    const res = await fetch(`${base}${path}`);
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as unknown };
  };

  it('listens on loopback on an ephemeral port', () => {
    expect(inbox.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(inbox.port).toBeGreaterThan(0);
  });

  it('serves the page with the embedded-mode banner, its style, and a CSP that admits only its own script', async () => {
    const page = await get('/dev/inbox');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.text).toContain('Embedded mode — not for production');
    expect(page.text).toContain('id="inbox-list"');
    expect(page.text).toContain('id="b-sign-in"');
    const csp = page.headers.get('content-security-policy') ?? '';
    const script = /<script>([\s\S]*?)<\/script>/.exec(page.text)?.[1] ?? '';
    expect(script.length).toBeGreaterThan(1000);
    expect(csp).toContain(`script-src 'sha256-${createHash('sha256').update(script, 'utf8').digest('base64')}'`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(page.text).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);

    const css = await get('/dev/inbox/inbox.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect(css.text).toContain('.banner');

    const trailing = await get('/dev/inbox/');
    expect(trailing.status).toBe(200);
  });

  it('lists every message newest first in the API shape, with the code each carries', async () => {
    const res = await get('/dev/inbox/messages');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const items = res.json() as Record<string, unknown>[];
    expect(items.map((i) => i['id'])).toEqual([newer.id, voice.id, mail.id, older.id]);
    for (const item of items) {
      expect(item).toEqual(
        expect.objectContaining({
          id: expect.any(String),
          channel: expect.stringMatching(/^(sms|voice|email)$/),
          to: expect.any(String),
          body: expect.any(String),
          status: expect.any(String),
          carrier: 'dev-inbox',
          createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        }),
      );
    }
    expect(items[0]).toMatchObject({ to: '+14155550123', code: '444444', messageId: newer.messageId });
    expect(items[1]).toMatchObject({ channel: 'voice', code: '333333' });
    expect(items[2]).toMatchObject({ channel: 'email', to: 'dev.someone@example.com', subject: 'Your Shop sign-in code', code: '222222' });
  });

  it('filters by destination (E.164 in any spelling, or e-mail), channel and limit', async () => {
    const ids = async (query: string) => ((await get(`/dev/inbox/messages?${query}`)).json() as { id: string }[]).map((i) => i.id);
    expect(await ids('to=%2B14155550123')).toEqual([newer.id, older.id]);
    // An unencoded + arrives as a space; still the same number.
    expect(await ids('to=+14155550123')).toEqual([newer.id, older.id]);
    expect(await ids('to=%2B1%20(415)%20555-0123&limit=1')).toEqual([newer.id]);
    expect(await ids('to=Dev.Someone%40Example.com')).toEqual([mail.id]);
    expect(await ids('channel=voice')).toEqual([voice.id]);
    expect(await ids('channel=sms&to=%2B14155550199')).toEqual([]);
    expect(await ids('to=&channel=&limit=')).toHaveLength(4);
    expect(await ids('limit=2')).toEqual([newer.id, voice.id]);
  });

  it('refuses a bad query with problem+json naming the fields', async () => {
    const res = await get('/dev/inbox/messages?channel=fax&limit=5000');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.json()).toMatchObject({
      status: 400,
      code: 'validation_failed',
      errors: expect.arrayContaining([expect.objectContaining({ field: 'channel' }), expect.objectContaining({ field: 'limit' })]),
    });
    const unknown = await get('/dev/inbox/nothing-here');
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toMatchObject({ code: 'not_found' });
  });

  it("answers a message's status timeline from the notifier's view", async () => {
    const res = await get(`/dev/inbox/messages/${newer.id}/status`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({
      id: newer.id,
      messageId: newer.messageId,
      status: 'delivered',
      carrier: 'dev-inbox',
      timeline: [
        { status: 'queued', at: at(4) },
        { status: 'sending', at: at(4) },
        { status: 'sent', at: at(4), carrier: 'dev-inbox' },
        { status: 'delivered', at: at(4), carrier: 'dev-inbox' },
      ],
    });
    // Final: kept, not asked for again.
    const before = lookups.filter((m) => m === newer.messageId).length;
    expect((await get(`/dev/inbox/messages/${newer.id}/status`)).status).toBe(200);
    expect(lookups.filter((m) => m === newer.messageId).length).toBe(before);
    expect((await get(`/dev/inbox/messages/${randomUUID()}/status`)).status).toBe(404);
    // A message the notifier does not know: the carrier's own view, no timeline.
    const bare = await get(`/dev/inbox/messages/${older.id}/status`);
    expect(bare.status).toBe(200);
    expect(bare.json()).toEqual({ id: older.id, messageId: older.messageId, status: 'delivered', carrier: 'dev-inbox', timeline: [] });
  });

  it.each([
    ['directly', () => inbox.url],
    ['through the gateway', () => `http://127.0.0.1:${gateway.port}`],
  ])('pushes a new message, then its status as it changes, over SSE (%s)', async (_how, base) => {
    const stream = await openStream(`${base()}/dev/inbox/stream`);
    try {
      expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
      await eventually(() => stream.events.some((e) => e.event === 'ready'));
      const messageId = randomUUID();
      // The notifier has it queued at first, then delivered.
      statuses.set(messageId, { status: 'queued', carrier: null, timeline: [{ status: 'queued', at: at(10) }] });
      const pushed = source.push({ messageId, to: '+14155550142', body: 'Your sign-in code is 555555.\n@localhost #555555' });
      const arrived = await eventually(() => stream.events.find((e) => e.event === 'message' && (e.data as { id: string }).id === pushed.id));
      expect(arrived.data).toEqual({
        id: pushed.id,
        channel: 'sms',
        to: '+14155550142',
        body: pushed.body,
        status: 'delivered',
        carrier: 'dev-inbox',
        createdAt: pushed.createdAt,
        messageId,
        code: '555555',
      });
      await eventually(() => stream.events.find((e) => e.event === 'status' && (e.data as { status: string }).status === 'queued'));
      statuses.set(messageId, {
        status: 'delivered',
        carrier: 'dev-inbox',
        timeline: [
          { status: 'queued', at: at(10) },
          { status: 'sent', at: at(10), carrier: 'dev-inbox' },
          { status: 'delivered', at: at(10), carrier: 'dev-inbox' },
        ],
      });
      const delivered = await eventually(() =>
        stream.events.find((e) => e.event === 'status' && (e.data as { id: string; status: string }).id === pushed.id && (e.data as { status: string }).status === 'delivered'),
      );
      expect(delivered.data).toMatchObject({ id: pushed.id, messageId, carrier: 'dev-inbox', timeline: [{ status: 'queued' }, { status: 'sent' }, { status: 'delivered' }] });
      // And the list answers the notifier's latest status.
      const first = ((await get(`/dev/inbox/messages?limit=1`)).json() as { id: string; status: string }[])[0];
      expect(first).toMatchObject({ id: pushed.id, status: 'delivered' });
    } finally {
      stream.close();
    }
  });

  it('keeps bodies, codes and numbers out of its logs', () => {
    const text = capture.text();
    expect(text).toContain('dev inbox listening');
    for (const secret of ['111111', '222222', '444444', '555555', '+14155550123', '+14155550142', 'dev.someone@example.com']) {
      expect(text).not.toContain(secret);
    }
  });

  it('stops: ends open streams, stops listening and lets go of the source', async () => {
    const other = new FakeSource();
    const running = await startDevInbox({ source: other });
    expect(other.listenerCount('message')).toBe(1);
    const stream = await openStream(`${running.url}/dev/inbox/stream`);
    await eventually(() => stream.events.length > 0);
    const ended = new Promise<void>((resolve) => {
      const req = http.get(`${running.url}/dev/inbox/stream`, (res) => {
        res.resume();
        res.on('end', () => resolve());
        res.on('close', () => resolve());
      });
      req.on('error', () => resolve());
    });
    await new Promise((r) => setTimeout(r, 50));
    await running.close();
    await ended;
    expect(other.listenerCount('message')).toBe(0);
    await expect(fetch(`${running.url}/dev/inbox/messages`)).rejects.toThrow();
    stream.close();
  });
});
