import pino from 'pino';
import { fakeBroker, type FakeConnection } from '../test/support/fake-amqp';
import { ConfirmPublisher } from './confirm-publisher';
import { ConnectionManager } from './connection';
import { BusUnavailableError, PublisherOverloadedError, PublishTimeoutError } from './errors';

const logger = pino({ level: 'silent' });
const tick = () => new Promise((r) => setImmediate(r));

async function setup(
  options: {
    timeoutMs?: number;
    unroutable?: 'retry' | 'drop';
    logger?: pino.Logger;
    disconnectedGraceMs?: number;
  } = {},
) {
  const broker = fakeBroker();
  const connection = new ConnectionManager({
    url: 'amqp://fake/vh',
    logger,
    connect: broker.connect,
    reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
  });
  const publisher = new ConfirmPublisher(connection, {
    exchanges: { ev: 'topic' },
    ...options,
    logger: options.logger ?? logger,
  });
  connection.start();
  await publisher.start();
  await connection.waitUntilConnected(1_000);
  const conn = () => broker.connections.at(-1) as FakeConnection;
  return { broker, connection, publisher, conn };
}

describe('ConfirmPublisher', () => {
  it('resolves a publish only on the broker ack', async () => {
    const { publisher, conn, connection } = await setup();
    let done = false;
    const p = publisher
      .publish('ev', 'a.b.v1', Buffer.from('x'), { persistent: true })
      .then(() => (done = true));
    await tick();
    expect(conn().lastChannel.published).toHaveLength(1);
    expect(done).toBe(false);
    conn().lastChannel.ack();
    await p;
    expect(done).toBe(true);
    await publisher.close();
    await connection.close();
  });

  it('re-sends a nacked message and resolves on the ack of the re-send', async () => {
    const { publisher, conn, connection } = await setup();
    const p = publisher.publish('ev', 'a.b.v1', Buffer.from('x'));
    await tick();
    conn().lastChannel.nack(0);
    await tick();
    const ch = conn().lastChannel;
    expect(ch.published).toHaveLength(2);
    expect(ch.published[1]!.content.toString()).toBe('x');
    ch.ack(1);
    await expect(p).resolves.toBeUndefined();
    await publisher.close();
    await connection.close();
  });

  it('re-sends unconfirmed messages on a new connection after a drop', async () => {
    const { publisher, broker, connection } = await setup();
    const first = broker.connections[0]!;
    const ps = [1, 2, 3].map((i) => publisher.publish('ev', 'a.b.v1', Buffer.from(String(i))));
    await tick();
    first.lastChannel.ack(0);
    first.drop(); // 2 and 3 unconfirmed
    await connection.waitUntilConnected(1_000);
    await tick();
    const second = broker.connections[1]!;
    expect(second.lastChannel.published.map((p) => p.content.toString())).toEqual(['2', '3']);
    second.lastChannel.ack(0);
    second.lastChannel.ack(1);
    await expect(Promise.all(ps)).resolves.toEqual([undefined, undefined, undefined]);
    await publisher.close();
    await connection.close();
  });

  it('retries a returned (unroutable) message and rejects it at the timeout with the reason', async () => {
    const { publisher, conn, connection } = await setup({ timeoutMs: 400 });
    const p = publisher.publish('ev', 'nobody.listens.v1', Buffer.from('x'), { mandatory: true });
    await tick();
    conn().lastChannel.returnAndAck(0);
    await new Promise((r) => setTimeout(r, 150));
    expect(conn().lastChannel.published.length).toBeGreaterThanOrEqual(2); // re-sent after a back-off
    const error = await p.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublishTimeoutError);
    expect((error as Error).message).toMatch(
      /not confirmed by the broker within 400 ms \(last failure: unroutable/,
    );
    await publisher.close();
    await connection.close();
  });

  it('matches a return by messageId, without adding a header, for messages that have one', async () => {
    const { publisher, conn, connection } = await setup({ timeoutMs: 300 });
    const p = publisher.publish('ev', 'nobody.listens.v1', Buffer.from('x'), {
      mandatory: true,
      messageId: 'evt-1',
    });
    await tick();
    expect(conn().lastChannel.published[0]!.options.headers).toBeUndefined();
    conn().lastChannel.returnAndAck(0);
    await expect(p).rejects.toThrow(/unroutable/);
    await publisher.close();
    await connection.close();
  });

  it('can be told to drop unroutable messages instead', async () => {
    const { publisher, conn, connection } = await setup({ unroutable: 'drop' });
    const p = publisher.publish('ev', 'nobody.listens.v1', Buffer.from('x'), { mandatory: true });
    await tick();
    conn().lastChannel.returnAndAck(0);
    await expect(p).resolves.toBeUndefined();
    await publisher.close();
    await connection.close();
  });

  it('warns once per routing key about dropped unroutable messages, not once per message', async () => {
    const lines: { level: number; msg: string; routingKey?: string }[] = [];
    const capture = pino(
      { level: 'debug' },
      { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) },
    );
    const { publisher, conn, connection } = await setup({ unroutable: 'drop', logger: capture });
    const keys = ['nobody.listens.v1', 'nobody.listens.v1', 'nobody.listens.v1', 'nor.here.v1'];
    for (const [i, key] of keys.entries()) {
      const p = publisher.publish('ev', key, Buffer.from('x'), { mandatory: true });
      await tick();
      conn().lastChannel.returnAndAck(i);
      await expect(p).resolves.toBeUndefined();
    }
    const dropped = lines.filter((l) => l.msg.startsWith('unroutable message dropped'));
    expect(dropped.map((l) => [l.level, l.routingKey])).toEqual([
      [40, 'nobody.listens.v1'],
      [20, 'nobody.listens.v1'],
      [20, 'nobody.listens.v1'],
      [40, 'nor.here.v1'],
    ]);
    await publisher.close();
    await connection.close();
  });

  it('holds messages while the connection is blocked and sends them when unblocked (M7)', async () => {
    const { publisher, conn, connection } = await setup({ timeoutMs: 5_000 });
    conn().emit('blocked', 'low on memory');
    expect(connection.isBlocked()).toBe(true);
    const p = publisher.publish('ev', 'a.b.v1', Buffer.from('x'));
    await new Promise((r) => setTimeout(r, 50));
    expect(conn().lastChannel.published).toHaveLength(0);
    expect(publisher.pending).toBe(1);
    expect(connection.isHealthy()).toBe(true);
    conn().emit('unblocked');
    await tick();
    expect(conn().lastChannel.published).toHaveLength(1);
    conn().lastChannel.ack();
    await expect(p).resolves.toBeUndefined();
    await publisher.close();
    await connection.close();
  });

  it('rejects, instead of hanging, a message still blocked at its deadline', async () => {
    const { publisher, conn, connection } = await setup({ timeoutMs: 300 });
    conn().emit('blocked', 'disk alarm');
    const error = await publisher
      .publish('ev', 'a.b.v1', Buffer.from('x'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublishTimeoutError);
    expect(conn().lastChannel.published).toHaveLength(0);
    await publisher.close();
    await connection.close();
  });

  it('refuses new publishes at once beyond maxPending (memory bound during an outage)', async () => {
    const broker = fakeBroker();
    const connection = new ConnectionManager({
      url: 'amqp://fake/',
      logger,
      connect: broker.connect,
    });
    const publisher = new ConfirmPublisher(connection, {
      logger,
      exchanges: {},
      maxPending: 2,
      timeoutMs: 200,
    });
    await publisher.start(); // not connected: messages wait
    const waiting = [
      publisher.publish('ev', 'k', Buffer.from('1')),
      publisher.publish('ev', 'k', Buffer.from('2')),
    ];
    await expect(publisher.publish('ev', 'k', Buffer.from('3'))).rejects.toBeInstanceOf(
      PublisherOverloadedError,
    );
    await expect(Promise.allSettled(waiting)).resolves.toHaveLength(2);
    await publisher.close();
    await connection.close();
  });

  it('keeps at most maxInFlight messages unconfirmed', async () => {
    const broker = fakeBroker();
    const connection = new ConnectionManager({
      url: 'amqp://fake/',
      logger,
      connect: broker.connect,
    });
    const publisher = new ConfirmPublisher(connection, { logger, exchanges: {}, maxInFlight: 3 });
    connection.start();
    await publisher.start();
    await connection.waitUntilConnected(1_000);
    const ch = () => broker.connections[0]!.lastChannel;
    const ps = Array.from({ length: 5 }, (_, i) =>
      publisher.publish('ev', 'k', Buffer.from(String(i))),
    );
    await tick();
    expect(ch().published).toHaveLength(3);
    ch().ack(0);
    await tick();
    expect(ch().published).toHaveLength(4);
    for (let i = 1; i < 5; i++) ch().ack(i);
    await Promise.all(ps);
    await publisher.close();
    await connection.close();
  });

  describe('a broker outage (down past disconnectedGraceMs)', () => {
    it('fails new publishes at once, and those waiting in line unsent, instead of at their deadline', async () => {
      const { publisher, broker, connection } = await setup({ timeoutMs: 5_000, disconnectedGraceMs: 100 });
      try {
        broker.failNext(1_000_000); // the broker stays away
        broker.connections[0]!.drop();
        const started = Date.now();
        const waiting = publisher.publish('ev', 'a.b.v1', Buffer.from('queued during the grace')).catch((e: unknown) => e);
        expect(await waiting).toBeInstanceOf(BusUnavailableError);
        expect(Date.now() - started).toBeLessThan(1_000); // the sweep, not the 5 s deadline
        const refused = await publisher.publish('ev', 'a.b.v1', Buffer.from('later')).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(BusUnavailableError);
        expect((refused as Error).message).toMatch(/disconnected for \d+ s; not publishing/);
        broker.failNext(0); // back
        await connection.waitUntilConnected(1_000);
        await tick();
        const again = publisher.publish('ev', 'a.b.v1', Buffer.from('after'));
        await tick();
        (broker.connections.at(-1) as FakeConnection).lastChannel.ack();
        await expect(again).resolves.toBeUndefined();
      } finally {
        broker.failNext(0);
        await publisher.close();
        await connection.close();
      }
    });

    it('keeps the deadline of a message that was on the wire when the connection dropped (the broker may have it)', async () => {
      const { publisher, broker, connection } = await setup({ timeoutMs: 5_000, disconnectedGraceMs: 50 });
      const onTheWire = publisher.publish('ev', 'a.b.v1', Buffer.from('x'));
      await tick();
      broker.failNext(1_000_000);
      broker.connections[0]!.drop();
      let settled = false;
      void onTheWire.finally(() => (settled = true)).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500)); // past the grace, two sweeps
      expect(settled).toBe(false);
      broker.failNext(0);
      await connection.waitUntilConnected(1_000);
      await tick();
      const second = broker.connections.at(-1) as FakeConnection;
      expect(second.lastChannel.published.map((m) => m.content.toString())).toEqual(['x']);
      second.lastChannel.ack();
      await expect(onTheWire).resolves.toBeUndefined();
      await publisher.close();
      await connection.close();
    });

    it('rides out a drop shorter than the grace: a publish made meanwhile goes out after the reconnect', async () => {
      const { publisher, broker, connection } = await setup({ timeoutMs: 5_000 });
      broker.connections[0]!.drop(); // reconnects within milliseconds (test back-off)
      const p = publisher.publish('ev', 'a.b.v1', Buffer.from('during the drop'));
      await connection.waitUntilConnected(1_000);
      await tick();
      (broker.connections.at(-1) as FakeConnection).lastChannel.ack();
      await expect(p).resolves.toBeUndefined();
      await publisher.close();
      await connection.close();
    });
  });
});
