import { EventEmitter } from 'node:events';
import type { ChannelModel, ConfirmChannel, Message, Options } from 'amqplib';

export interface FakePublish {
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: Options.Publish;
  callback: (err: unknown, ok?: unknown) => void;
}

/** Just enough of an amqplib confirm channel for the publisher's unit specs. */
export class FakeConfirmChannel extends EventEmitter {
  readonly published: FakePublish[] = [];
  closed = false;

  async assertExchange(): Promise<void> {}

  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish,
    callback: FakePublish['callback'],
  ): boolean {
    if (this.closed) throw new Error('Channel closed');
    this.published.push({ exchange, routingKey, content, options, callback });
    return true;
  }

  ack(i = this.published.length - 1): void {
    this.published[i]?.callback(null);
  }

  nack(i = this.published.length - 1): void {
    this.published[i]?.callback(new Error('message nacked'));
  }

  /** The broker returns a mandatory message (then acks it, as RabbitMQ does). */
  returnAndAck(i = this.published.length - 1): void {
    const p = this.published[i];
    if (!p) return;
    const returned = {
      content: p.content,
      fields: { exchange: p.exchange, routingKey: p.routingKey },
      properties: { headers: p.options.headers as unknown, messageId: p.options.messageId },
    } as unknown as Message;
    this.emit('return', returned);
    p.callback(null);
  }

  /** The channel dies: unconfirmed callbacks get an error, then `close`. */
  die(unconfirmed: FakePublish[]): void {
    this.closed = true;
    for (const p of unconfirmed) p.callback(new Error('channel closed'));
    this.emit('close');
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export class FakeConnection extends EventEmitter {
  readonly channels: FakeConfirmChannel[] = [];
  closed = false;

  async createConfirmChannel(): Promise<ConfirmChannel> {
    const ch = new FakeConfirmChannel();
    this.channels.push(ch);
    return ch as unknown as ConfirmChannel;
  }

  async createChannel(): Promise<ConfirmChannel> {
    return this.createConfirmChannel();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }

  /** The broker drops the connection. */
  drop(): void {
    for (const ch of this.channels) if (!ch.closed) ch.die(ch.published);
    this.closed = true;
    this.emit('close', new Error('Connection closed: 320 (CONNECTION-FORCED)'));
  }

  get lastChannel(): FakeConfirmChannel {
    const ch = this.channels.at(-1);
    if (!ch) throw new Error('no channel yet');
    return ch;
  }
}

/** A connect() that hands out FakeConnections and records them. */
export function fakeBroker(): {
  connect: () => Promise<ChannelModel>;
  connections: FakeConnection[];
  failNext: (n: number) => void;
} {
  const connections: FakeConnection[] = [];
  let failures = 0;
  return {
    connections,
    failNext: (n) => (failures = n),
    connect: async () => {
      if (failures > 0) {
        failures--;
        throw new Error('ECONNREFUSED');
      }
      const c = new FakeConnection();
      connections.push(c);
      return c as unknown as ChannelModel;
    },
  };
}
