import pino from 'pino';
import { fakeBroker } from '../test/support/fake-amqp';
import { ConnectionManager, type ConnectionParticipant } from './connection';
import { BusClosedError } from './errors';

const logger = pino({ level: 'silent' });

function participant(log: string[], name = 'p'): ConnectionParticipant {
  return {
    name,
    onConnected: async () => {
      log.push(`${name}:up`);
    },
    onDisconnected: () => log.push(`${name}:down`),
  };
}

describe('ConnectionManager', () => {
  it('only accepts a heartbeat of 10 to 20 seconds (M7)', () => {
    expect(() => new ConnectionManager({ url: 'amqp://x', logger, heartbeatSeconds: 5 })).toThrow(
      /between 10 and 20/,
    );
    expect(() => new ConnectionManager({ url: 'amqp://x', logger, heartbeatSeconds: 60 })).toThrow(
      /between 10 and 20/,
    );
    expect(
      () => new ConnectionManager({ url: 'amqp://x', logger, heartbeatSeconds: 10 }),
    ).not.toThrow();
  });

  it('asks the broker for the heartbeat and names the connection', async () => {
    const calls: [string, unknown][] = [];
    const broker = fakeBroker();
    const cm = new ConnectionManager({
      url: 'amqp://u:p@host:5672/vh',
      logger,
      connectionName: 'otp',
      connect: (url, opts) => {
        calls.push([url, opts]);
        return broker.connect();
      },
    });
    cm.start();
    await cm.waitUntilConnected(1_000);
    expect(calls[0]![0]).toBe('amqp://u:p@host:5672/vh?heartbeat=15');
    expect(calls[0]![1]).toEqual({ clientProperties: { connection_name: 'otp' }, timeout: 10_000 });
    await cm.close();
  });

  it('retries the first connect with back-off until the broker is there', async () => {
    const broker = fakeBroker();
    broker.failNext(3);
    const cm = new ConnectionManager({
      url: 'amqp://x',
      logger,
      connect: broker.connect,
      reconnect: { initialDelayMs: 5 },
    });
    cm.start();
    await cm.waitUntilConnected(2_000);
    expect(broker.connections).toHaveLength(1);
    await cm.close();
  });

  it('reconnects after a drop and sets every participant up again, in order', async () => {
    const broker = fakeBroker();
    const log: string[] = [];
    const cm = new ConnectionManager({
      url: 'amqp://x',
      logger,
      connect: broker.connect,
      reconnect: { initialDelayMs: 5 },
    });
    await cm.register(participant(log, 'topology'));
    await cm.register(participant(log, 'consumer'));
    const events: string[] = [];
    cm.on('disconnected', () => events.push('disconnected'));
    cm.on('connected', () => events.push('connected'));
    cm.start();
    await cm.waitUntilConnected(1_000);
    broker.connections[0]!.drop();
    expect(cm.isHealthy()).toBe(false);
    await new Promise((r) => setTimeout(r, 10));
    await cm.waitUntilConnected(1_000);
    expect(log).toEqual([
      'topology:up',
      'consumer:up',
      'topology:down',
      'consumer:down',
      'topology:up',
      'consumer:up',
    ]);
    expect(events).toEqual(['connected', 'disconnected', 'connected']);
    await cm.close();
  });

  it('tracks blocked/unblocked: writers wait, the connection stays healthy, nothing throws (M7)', async () => {
    const broker = fakeBroker();
    const cm = new ConnectionManager({ url: 'amqp://x', logger, connect: broker.connect });
    cm.start();
    await cm.waitUntilConnected(1_000);
    const seen: string[] = [];
    cm.on('blocked', (reason: string) => seen.push(`blocked:${reason}`));
    cm.on('unblocked', () => seen.push('unblocked'));
    broker.connections[0]!.emit('blocked', 'low on memory');
    expect(cm.isBlocked()).toBe(true);
    expect(cm.isHealthy()).toBe(true);
    let writable = false;
    const waiting = cm.waitUntilWritable(1_000).then(() => (writable = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(writable).toBe(false);
    await expect(cm.waitUntilConnected(10)).resolves.toBeUndefined();
    broker.connections[0]!.emit('unblocked');
    await waiting;
    expect(writable).toBe(true);
    expect(seen).toEqual(['blocked:low on memory', 'unblocked']);
    await expect(cm.waitUntilWritable(10)).resolves.toBeUndefined();
    await cm.close();
  });

  it('fails waiters with a clear error on timeout and on close', async () => {
    const broker = fakeBroker();
    broker.failNext(1_000);
    const cm = new ConnectionManager({
      url: 'amqp://x',
      logger,
      connect: broker.connect,
      reconnect: { initialDelayMs: 5, maxDelayMs: 10 },
    });
    cm.start();
    await expect(cm.waitUntilConnected(50)).rejects.toThrow(
      /rabbitmq not connected within 50 ms: ECONNREFUSED/,
    );
    const pending = cm.waitUntilConnected();
    await cm.close();
    await expect(pending).rejects.toBeInstanceOf(BusClosedError);
    await expect(cm.register(participant([]))).rejects.toBeInstanceOf(BusClosedError);
    expect(cm.getState()).toBe('closed');
  });
});
