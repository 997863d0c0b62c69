import { EventEmitter } from 'node:events';
import { topicMatches } from './topic-match';

/**
 * An in-process stand-in for RabbitMQ, speaking the part of amqplib's
 * ChannelModel/Channel API that libs/messaging uses, so the embedded mode runs
 * the very same transport code (confirms, mandatory returns, manual acks,
 * prefetch, retry tiers through TTL + dead-lettering, DLQs, delivery limits,
 * direct reply-to). Nothing is durable: it is for `npm start` without
 * infrastructure, never for production.
 */

export interface MemMessage {
  content: Buffer;
  fields: { deliveryTag: number; redelivered: boolean; exchange: string; routingKey: string; consumerTag: string };
  properties: MessageProperties;
}

type MessageProperties = Record<string, unknown> & { headers: Record<string, unknown> };

interface Stored {
  content: Buffer;
  exchange: string;
  routingKey: string;
  properties: MessageProperties;
  deliveries: number;
  expiresAt?: number;
}

interface Consumer {
  tag: string;
  channel: MemChannel;
  onMessage: (msg: MemMessage | null) => void;
  noAck: boolean;
}

interface Queue {
  name: string;
  args: Record<string, unknown>;
  autoDelete: boolean;
  messages: Stored[];
  consumers: Consumer[];
  next: number;
  timer?: NodeJS.Timeout;
}

interface Exchange {
  type: string;
  bindings: { queue: string; key: string }[];
}

const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';

const brokers = new Map<string, InMemoryBroker>();

/**
 * The process's in-memory broker for a `memory://<name>` URL: every bus of one
 * process with the same URL shares it, as services share a RabbitMQ vhost.
 */
export function inMemoryBrokerFor(url: string): InMemoryBroker {
  const name = new URL(url).host || 'default';
  let broker = brokers.get(name);
  if (!broker) {
    broker = new InMemoryBroker();
    brokers.set(name, broker);
  }
  return broker;
}

export class InMemoryBroker {
  private readonly exchanges = new Map<string, Exchange>();
  private readonly queues = new Map<string, Queue>();
  private readonly replyConsumers = new Map<string, Consumer>();
  private tagSeq = 0;

  /** Drop-in for `amqplib.connect` (the URL is ignored). */
  readonly connect = async (_url?: string, _opts?: unknown): Promise<MemConnection> => new MemConnection(this);

  /** Messages ready in a queue (for tests and the dev inbox's health view). */
  depth(queue: string): number {
    return this.queues.get(queue)?.messages.length ?? 0;
  }

  queueNames(): string[] {
    return [...this.queues.keys()];
  }

  nextTag(prefix: string): string {
    this.tagSeq += 1;
    return `${prefix}-${this.tagSeq}`;
  }

  assertExchange(name: string, type: string): void {
    if (!this.exchanges.has(name)) this.exchanges.set(name, { type, bindings: [] });
  }

  assertQueue(name: string, options: { arguments?: Record<string, unknown>; autoDelete?: boolean }): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = { name, args: options.arguments ?? {}, autoDelete: Boolean(options.autoDelete), messages: [], consumers: [], next: 0 };
      this.queues.set(name, q);
    }
    return q;
  }

  bindQueue(queue: string, exchange: string, key: string): void {
    const ex = this.exchanges.get(exchange);
    if (!ex) throw new Error(`NOT_FOUND - no exchange '${exchange}'`);
    if (!this.queues.has(queue)) throw new Error(`NOT_FOUND - no queue '${queue}'`);
    if (!ex.bindings.some((b) => b.queue === queue && b.key === key)) ex.bindings.push({ queue, key });
  }

  /** Routes a message; returns false when no queue took it (for `mandatory`). */
  route(exchange: string, routingKey: string, content: Buffer, properties: MessageProperties, from?: MemChannel): boolean {
    if (exchange === '') {
      if (routingKey.startsWith(`${DIRECT_REPLY_TO}.`)) {
        const consumer = this.replyConsumers.get(routingKey);
        if (!consumer) return false;
        queueMicrotask(() => consumer.channel.deliver(consumer, { content, exchange, routingKey, properties, deliveries: 1 }, false));
        return true;
      }
      const q = this.queues.get(routingKey);
      if (!q) return false;
      this.enqueue(q, { content, exchange, routingKey, properties: this.rewriteReplyTo(properties, from), deliveries: 0 });
      return true;
    }
    const ex = this.exchanges.get(exchange);
    if (!ex) return false;
    const targets = new Set<string>();
    for (const b of ex.bindings) {
      const hit = ex.type === 'topic' ? topicMatches(b.key, routingKey) : ex.type === 'fanout' || b.key === routingKey;
      if (hit) targets.add(b.queue);
    }
    for (const name of targets) {
      const q = this.queues.get(name);
      if (q) this.enqueue(q, { content, exchange, routingKey, properties: this.rewriteReplyTo(properties, from), deliveries: 0 });
    }
    return targets.size > 0;
  }

  private rewriteReplyTo(properties: MessageProperties, from?: MemChannel): MessageProperties {
    if (properties['replyTo'] !== DIRECT_REPLY_TO || !from?.replyAddress) return { ...properties, headers: { ...properties.headers } };
    return { ...properties, headers: { ...properties.headers }, replyTo: from.replyAddress };
  }

  registerReplyConsumer(address: string, consumer: Consumer): void {
    this.replyConsumers.set(address, consumer);
  }

  unregisterReplyConsumer(address: string): void {
    this.replyConsumers.delete(address);
  }

  private enqueue(q: Queue, message: Stored): void {
    const ttl = Number(q.args['x-message-ttl'] ?? Number.POSITIVE_INFINITY);
    const perMessage = message.properties['expiration'] !== undefined ? Number(message.properties['expiration']) : Number.POSITIVE_INFINITY;
    const life = Math.min(ttl, perMessage);
    if (Number.isFinite(life)) message.expiresAt = Date.now() + life;
    q.messages.push(message);
    this.schedule(q);
  }

  /** Delivers what the queue's consumers have room for, and expires what is due. */
  schedule(q: Queue): void {
    queueMicrotask(() => this.pump(q));
  }

  private pump(q: Queue): void {
    const now = Date.now();
    q.messages = q.messages.filter((m) => {
      if (m.expiresAt !== undefined && m.expiresAt <= now) {
        this.deadLetter(q, m, 'expired');
        return false;
      }
      return true;
    });
    while (q.messages.length > 0) {
      const consumer = this.pickConsumer(q);
      if (!consumer) break;
      const message = q.messages.shift()!;
      message.deliveries += 1;
      consumer.channel.deliver(consumer, message, message.deliveries > 1, q.name);
    }
    if (q.timer) clearTimeout(q.timer);
    const nextExpiry = Math.min(...q.messages.map((m) => m.expiresAt ?? Number.POSITIVE_INFINITY));
    if (Number.isFinite(nextExpiry)) {
      q.timer = setTimeout(() => this.pump(q), Math.max(1, nextExpiry - Date.now()));
      q.timer.unref();
    }
  }

  private pickConsumer(q: Queue): Consumer | undefined {
    const n = q.consumers.length;
    for (let i = 0; i < n; i++) {
      const c = q.consumers[(q.next + i) % n]!;
      if (c.channel.hasRoom()) {
        q.next = (q.next + i + 1) % n;
        return c;
      }
    }
    return undefined;
  }

  /** Puts a message back (reject with requeue, or its channel closed unacked). */
  requeue(queueName: string, message: Stored): void {
    const q = this.queues.get(queueName);
    if (!q) return;
    const limit = q.args['x-delivery-limit'];
    if (typeof limit === 'number' && message.deliveries > limit) {
      this.deadLetter(q, message, 'delivery_limit');
      return;
    }
    q.messages.unshift(message);
    this.schedule(q);
  }

  deadLetter(q: Queue, message: Stored, reason: 'rejected' | 'expired' | 'delivery_limit'): void {
    const dlx = q.args['x-dead-letter-exchange'];
    if (typeof dlx !== 'string') return;
    const key = typeof q.args['x-dead-letter-routing-key'] === 'string' ? q.args['x-dead-letter-routing-key'] : message.routingKey;
    const deaths = Array.isArray(message.properties.headers['x-death']) ? (message.properties.headers['x-death'] as Record<string, unknown>[]) : [];
    const { expiration: _expired, ...rest } = message.properties;
    const properties: MessageProperties = {
      ...rest,
      headers: {
        ...message.properties.headers,
        'x-death': [{ queue: q.name, reason, count: 1, exchange: message.exchange, 'routing-keys': [message.routingKey], time: new Date() }, ...deaths],
        'x-first-death-reason': message.properties.headers['x-first-death-reason'] ?? reason,
      },
    };
    this.route(dlx, key, message.content, properties);
  }

  deadLetterByName(queueName: string, message: Stored): void {
    const q = this.queues.get(queueName);
    if (q) this.deadLetter(q, message, 'rejected');
  }

  addConsumer(queueName: string, consumer: Consumer): void {
    const q = this.queues.get(queueName);
    if (!q) throw new Error(`NOT_FOUND - no queue '${queueName}'`);
    q.consumers.push(consumer);
    this.schedule(q);
  }

  removeConsumer(tag: string): void {
    for (const q of this.queues.values()) {
      const before = q.consumers.length;
      q.consumers = q.consumers.filter((c) => c.tag !== tag);
      if (before > 0 && q.consumers.length === 0 && q.autoDelete) {
        if (q.timer) clearTimeout(q.timer);
        this.queues.delete(q.name);
        for (const ex of this.exchanges.values()) ex.bindings = ex.bindings.filter((b) => b.queue !== q.name);
      }
    }
  }

  /** Wakes every queue (a channel got room after acks). */
  wakeAll(): void {
    for (const q of this.queues.values()) if (q.messages.length > 0 && q.consumers.length > 0) this.schedule(q);
  }
}

export class MemConnection extends EventEmitter {
  private readonly channels = new Set<MemChannel>();
  private closed = false;
  readonly connection = { serverProperties: { product: 'phonegate in-memory broker' } };

  constructor(private readonly broker: InMemoryBroker) {
    super();
  }

  async createChannel(): Promise<MemChannel> {
    return this.open(false);
  }

  async createConfirmChannel(): Promise<MemChannel> {
    return this.open(true);
  }

  private open(confirm: boolean): MemChannel {
    if (this.closed) throw new Error('Connection closed');
    const ch = new MemChannel(this.broker, confirm, () => this.channels.delete(ch));
    this.channels.add(ch);
    return ch;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const ch of [...this.channels]) await ch.close();
    this.emit('close');
  }
}

export class MemChannel extends EventEmitter {
  private prefetchCount = 0;
  private readonly unacked = new Map<number, { queue?: string; message: Stored }>();
  private readonly consumerTags = new Set<string>();
  private deliveryTag = 0;
  private closed = false;
  replyAddress?: string;

  constructor(
    private readonly broker: InMemoryBroker,
    private readonly confirm: boolean,
    private readonly onClosed: () => void,
  ) {
    super();
  }

  hasRoom(): boolean {
    return !this.closed && (this.prefetchCount === 0 || this.unacked.size < this.prefetchCount);
  }

  async assertExchange(name: string, type: string, _opts?: unknown) {
    this.broker.assertExchange(name, type);
    return { exchange: name };
  }

  async assertQueue(name: string, opts: { arguments?: Record<string, unknown>; autoDelete?: boolean; exclusive?: boolean } = {}) {
    const queue = name || this.broker.nextTag('amq.gen');
    const q = this.broker.assertQueue(queue, { ...opts, autoDelete: opts.autoDelete ?? opts.exclusive });
    return { queue, messageCount: q.messages.length, consumerCount: q.consumers.length };
  }

  async checkQueue(name: string) {
    return this.assertQueue(name);
  }

  async bindQueue(queue: string, exchange: string, key: string) {
    this.broker.bindQueue(queue, exchange, key);
    return {};
  }

  async prefetch(count: number) {
    this.prefetchCount = count;
    return {};
  }

  publish(exchange: string, routingKey: string, content: Buffer, options: Record<string, unknown> = {}, cb?: (err: Error | null) => void): boolean {
    if (this.closed) throw new Error('Channel closed');
    const { headers, mandatory, ...props } = options;
    const properties: MessageProperties = { ...props, headers: { ...((headers as Record<string, unknown>) ?? {}) } };
    const routed = this.broker.route(exchange, routingKey, Buffer.from(content), properties, this);
    queueMicrotask(() => {
      if (!routed && mandatory) {
        this.emit('return', {
          content,
          fields: { exchange, routingKey, replyCode: 312, replyText: 'NO_ROUTE' },
          properties,
        });
      }
      if (this.confirm && cb) cb(null);
    });
    return true;
  }

  sendToQueue(queue: string, content: Buffer, options: Record<string, unknown> = {}, cb?: (err: Error | null) => void): boolean {
    return this.publish('', queue, content, options, cb);
  }

  async waitForConfirms(): Promise<void> {
    await new Promise((r) => setImmediate(r));
  }

  async consume(queue: string, onMessage: (msg: MemMessage | null) => void, options: { noAck?: boolean; consumerTag?: string } = {}) {
    const tag = options.consumerTag ?? this.broker.nextTag('amq.ctag');
    const consumer: Consumer = { tag, channel: this, onMessage, noAck: Boolean(options.noAck) };
    this.consumerTags.add(tag);
    if (queue === DIRECT_REPLY_TO) {
      this.replyAddress = `${DIRECT_REPLY_TO}.${tag}`;
      this.broker.registerReplyConsumer(this.replyAddress, consumer);
    } else {
      this.broker.addConsumer(queue, consumer);
    }
    return { consumerTag: tag };
  }

  deliver(consumer: Consumer, message: Stored, redelivered: boolean, queue?: string): void {
    if (this.closed) {
      if (queue) this.broker.requeue(queue, message);
      return;
    }
    this.deliveryTag += 1;
    const tag = this.deliveryTag;
    if (!consumer.noAck) this.unacked.set(tag, { queue, message });
    const msg: MemMessage = {
      content: message.content,
      fields: { deliveryTag: tag, redelivered, exchange: message.exchange, routingKey: message.routingKey, consumerTag: consumer.tag },
      properties: message.properties,
    };
    setImmediate(() => consumer.onMessage(msg));
  }

  ack(msg: MemMessage): void {
    this.unacked.delete(msg.fields.deliveryTag);
    this.broker.wakeAll();
  }

  nack(msg: MemMessage, _allUpTo = false, requeue = true): void {
    this.settle(msg, requeue);
  }

  reject(msg: MemMessage, requeue = true): void {
    this.settle(msg, requeue);
  }

  private settle(msg: MemMessage, requeue: boolean): void {
    const entry = this.unacked.get(msg.fields.deliveryTag);
    this.unacked.delete(msg.fields.deliveryTag);
    if (entry?.queue) {
      if (requeue) this.broker.requeue(entry.queue, entry.message);
      else this.broker.deadLetterByName(entry.queue, entry.message);
    }
    this.broker.wakeAll();
  }

  async cancel(tag: string) {
    this.consumerTags.delete(tag);
    this.broker.removeConsumer(tag);
    return {};
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const tag of this.consumerTags) this.broker.removeConsumer(tag);
    if (this.replyAddress) this.broker.unregisterReplyConsumer(this.replyAddress);
    // Unacked deliveries go back to their queues, as RabbitMQ does.
    for (const { queue, message } of this.unacked.values()) if (queue) this.broker.requeue(queue, message);
    this.unacked.clear();
    this.onClosed();
    this.emit('close');
  }
}
