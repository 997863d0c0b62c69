import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as amqp from 'amqplib';
import type { Stack } from '../../src';

/** One HTTP answer: status, headers and the parsed JSON body (or the text when it is not JSON). */
export interface Answer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  /** The x-request-id the call was sent with. */
  requestId: string;
  body: T;
}

export interface CallOptions {
  /** Bearer key; the stack's all-scope key unless given. `null` sends no Authorization header. */
  key?: string | null;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Calls a public route through the gateway, as a storefront backend, logistics system or device would. */
export function gatewayClient(stack: Stack, requestIdPrefix: string) {
  let n = 0;
  return async function call<T = Record<string, unknown>>(
    method: string,
    path: string,
    options: CallOptions = {},
  ): Promise<Answer<T>> {
    const headers: Record<string, string> = {
      'x-request-id': `${requestIdPrefix}-${++n}`,
      ...options.headers,
    };
    const key = options.key === undefined ? stack.apiKey : options.key;
    if (key !== null) headers['authorization'] = `Bearer ${key}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${stack.gatewayUrl}${path}`, {
      method,
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return {
      status: res.status,
      headers: res.headers,
      requestId: headers['x-request-id']!,
      body: body as T,
    };
  };
}

/** A message as the carrier simulator received it (GET /_sim/messages). */
export interface SimMessage {
  id: string;
  channel: 'sms' | 'voice' | 'email';
  to: string;
  from?: string;
  subject?: string;
  body: string;
  status: string;
  carrier: string;
  protocol?: string;
  createdAt: string;
}

/**
 * Reads what reached a phone or a mailbox, the way the customer would: from
 * the carrier simulator. Each message is handed out once, so a later wait
 * finds the next one.
 */
export class SimInbox {
  private readonly seen = new Set<string>();

  constructor(private readonly controlUrl: string) {}

  async list(to: string, channel: SimMessage['channel']): Promise<SimMessage[]> {
    const res = await fetch(
      `${this.controlUrl}/_sim/messages?to=${encodeURIComponent(to)}&channel=${channel}&limit=200`,
    );
    if (!res.ok) throw new Error(`GET /_sim/messages answered ${res.status}`);
    return (await res.json()) as SimMessage[];
  }

  /** The oldest message to `to` on `channel` not handed out before (and matching `match`), waiting for it. */
  async next(
    to: string,
    channel: SimMessage['channel'],
    match: (m: SimMessage) => boolean = () => true,
    timeoutMs = 15_000,
  ): Promise<SimMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const fresh = (await this.list(to, channel))
        .reverse()
        .find((m) => !this.seen.has(m.id) && match(m));
      if (fresh) {
        this.seen.add(fresh.id);
        return fresh;
      }
      if (Date.now() > deadline)
        throw new Error(
          `no new ${channel} message for the test's ${channel === 'email' ? 'mailbox' : 'number'} in ${timeoutMs} ms`,
        );
      await sleep(100);
    }
  }

  /** Nothing new arrives for `to` on `channel` within `ms`. */
  async nothingNew(to: string, channel: SimMessage['channel'], ms: number): Promise<SimMessage[]> {
    await sleep(ms);
    return (await this.list(to, channel)).filter((m) => !this.seen.has(m.id));
  }
}

/** The code of an origin-bound message: its last line is `@host #code`. */
export function codeOf(message: SimMessage): string {
  const last = message.body.trim().split('\n').pop() ?? '';
  const match = /^@(\S+) #(\d{4,10})$/.exec(last.trim());
  if (!match)
    throw new Error(
      `the message's last line is not "@host #code" (${message.channel} via ${message.carrier})`,
    );
  return match[2]!;
}

/** An event as it travelled on the bus (CloudEvents envelope), with its routing key. */
export interface TappedEvent {
  routingKey: string;
  envelope: { id: string; type: string; correlationid?: string; data: Record<string, unknown> };
}

/**
 * A queue of the test's own in the stack's vhost, bound to `phonegate.events`
 * with the given keys: what a downstream consumer of our events would see.
 */
export class BusTap {
  readonly events: TappedEvent[] = [];

  private constructor(
    private readonly connection: amqp.ChannelModel,
    private readonly channel: amqp.Channel,
  ) {}

  static async open(amqpUrl: string, bindings: string[]): Promise<BusTap> {
    const connection = await amqp.connect(amqpUrl);
    const channel = await connection.createChannel();
    // The services declared the exchange at start; checkExchange fails if it is missing.
    await channel.checkExchange('phonegate.events');
    const { queue } = await channel.assertQueue(`e2e.tap.${randomUUID()}`, {
      exclusive: true,
      autoDelete: true,
      durable: false,
    });
    for (const key of bindings) await channel.bindQueue(queue, 'phonegate.events', key);
    const tap = new BusTap(connection, channel);
    await channel.consume(
      queue,
      (msg) => {
        if (!msg) return;
        tap.events.push({
          routingKey: msg.fields.routingKey,
          envelope: JSON.parse(msg.content.toString('utf8')) as TappedEvent['envelope'],
        });
      },
      { noAck: true },
    );
    return tap;
  }

  async waitFor(match: (e: TappedEvent) => boolean, timeoutMs = 15_000): Promise<TappedEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(
          `no matching event in ${timeoutMs} ms (saw: ${this.events.map((e) => e.routingKey).join(', ') || 'none'})`,
        );
      await sleep(50);
    }
  }

  async close(): Promise<void> {
    await this.channel.close().catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }
}

/**
 * Every process's log file (the four services and the simulator), by process
 * name. Each must hold the process's own "listening" line with its port, so an
 * empty or wrong file cannot pass a leak check.
 */
export async function readLogs(stack: Stack): Promise<Record<string, string>> {
  // Give the pipes from the children a moment to reach the files.
  await sleep(500);
  const handles = [...Object.values(stack.services), stack.sim.handle];
  const texts = await Promise.all(handles.map((h) => readFile(h.logFile, 'utf8')));
  handles.forEach((h, i) => {
    const own = h.name === 'carrier-sim' ? `"control":${h.port}` : `"port":${h.port}`;
    if (!texts[i]?.includes(own) || !/listening/.test(texts[i] ?? ''))
      throw new Error(`${h.logFile} does not hold ${h.name}'s start line`);
  });
  return Object.fromEntries(handles.map((h, i) => [h.name, texts[i] ?? '']));
}

/**
 * Which secrets occur in a log text, by kind and index (never their values).
 * Kinds listed in `standalone` (short digit codes) match only as a whole token,
 * not inside a longer run of digits or letters such as a timestamp or an id.
 */
export function leaks(
  text: string,
  secrets: Record<string, string[]>,
  standalone: string[] = ['code'],
): string[] {
  const found: string[] = [];
  for (const [kind, values] of Object.entries(secrets)) {
    values.forEach((value, i) => {
      if (!value) return;
      const hit = standalone.includes(kind)
        ? new RegExp(
            `(?<![A-Za-z0-9])${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![A-Za-z0-9])`,
          ).test(text)
        : text.includes(value);
      if (hit) found.push(`${kind}[${i}]`);
    });
  }
  return found;
}

/** A fictional US number (555-01xx, reserved for fiction) that libphonenumber accepts for SMS. */
export function fictionalNumber(areaCode: string): { e164: string; national: string } {
  const line = `01${String(Math.floor(Math.random() * 100)).padStart(2, '0')}`;
  return { e164: `+1${areaCode}555${line}`, national: `${areaCode}555${line}` };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
