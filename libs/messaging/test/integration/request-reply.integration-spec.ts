import { Controller, type INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Payload } from '@nestjs/microservices';
import { DomainError } from '@phonegate/platform';
import { createTestVhost, type TestVhost } from '@phonegate/platform/testing';
import type * as amqp from 'amqplib';
import { Registry } from 'prom-client';
import { Bus } from '../../src/bus';
import { BusExceptionFilter } from '../../src/bus-exception.filter';
import { OnCommand } from '../../src/bus.decorators';
import { BusModule } from '../../src/bus.module';
import { ContractViolationError } from '../../src/errors';
import { EventBus } from '../../src/event-bus';
import {
  capturedLogger,
  echoV1,
  nobodyV1,
  sleep,
  TEST_COMMANDS,
  TEST_CONTRACTS,
  testKeys,
} from '../support/fixtures';
import { closeConnectionsNamed, drainQueue, rawConnection } from '../support/rabbit';

jest.setTimeout(30_000);

const received: { text: string; code?: string }[] = [];
/** The 'slow' request is held until the test releases it (no race with slow rabbitmqctl). */
let releaseSlow: () => void = () => undefined;
const slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));
/** 'hold' requests wait here, counted, until the test releases them all. */
let held = 0;
let releaseHeld: () => void = () => undefined;
const heldGate = new Promise<void>((resolve) => (releaseHeld = resolve));

@Controller()
class EchoController {
  @OnCommand(echoV1)
  async echo(@Payload() req: { text: string; code?: string; fail?: 'domain' | 'crash' }) {
    received.push(req);
    if (req.fail === 'domain')
      throw new DomainError('code_mismatch', 'The code is not right.', { attemptsRemaining: 2 });
    if (req.fail === 'crash') throw new Error('db exploded at 10.0.0.7');
    if (req.text === 'slow') await slowGate;
    if (req.text === 'hold') {
      held += 1;
      await heldGate;
    }
    return { text: req.text.toUpperCase(), ...(req.code ? { code: `${req.code}!` } : {}) };
  }
}

async function rejection(p: Promise<unknown>): Promise<DomainError> {
  try {
    await p;
  } catch (error) {
    return error as DomainError;
  }
  throw new Error('expected a rejection');
}

describe('request-reply', () => {
  let vhost: TestVhost;
  let serverBus: Bus;
  let callerBus: Bus;
  let app: INestMicroservice;
  let raw: amqp.ChannelModel;
  let ch: amqp.Channel;
  const keys = testKeys();
  const { logger: serverLogger, capture: serverLogs } = capturedLogger('otp');
  const { logger: callerLogger, capture: callerLogs } = capturedLogger('identity');

  beforeAll(async () => {
    vhost = await createTestVhost();
    const common = {
      url: vhost.url,
      ...keys,
      contracts: TEST_CONTRACTS,
      commands: TEST_COMMANDS,
      metrics: new Registry(),
    };
    serverBus = new Bus({
      ...common,
      service: 'otp',
      logger: serverLogger,
      reconnect: { initialDelayMs: 50 },
    });
    callerBus = new Bus({
      ...common,
      service: 'identity',
      logger: callerLogger,
      reconnect: { initialDelayMs: 50 },
    });

    @Module({ imports: [BusModule.forRoot({ bus: serverBus })], controllers: [EchoController] })
    class OtpModule {}

    app = await NestFactory.createMicroservice(OtpModule, {
      strategy: serverBus.server,
      logger: false,
    });
    app.useGlobalFilters(new BusExceptionFilter());
    await app.listen();
    await callerBus.start();
    await callerBus.connection.waitUntilConnected(5_000);
    raw = await rawConnection(vhost.url);
    ch = await raw.createChannel();
    await ch.assertQueue('rpc-tap', { durable: false });
    await ch.bindQueue('rpc-tap', 'phonegate.rpc', echoV1.pattern);
  });

  afterAll(async () => {
    await app?.close();
    await callerBus?.close();
    await raw?.close().catch(() => undefined);
    await vhost?.drop();
  });

  it('provides the bus through BusModule', () => {
    expect(app.get(EventBus)).toBe(serverBus.events);
    expect(serverBus.isHealthy()).toBe(true);
  });

  it('serves at least 100 requests at once by default (SECURITY M2: prefetch 100-300)', async () => {
    const calls = Array.from({ length: 150 }, () =>
      callerBus.events.request(echoV1, { text: 'hold' }, { timeoutMs: 20_000 }),
    );
    // Held handlers only grow while unacked requests are let through: wait until the count settles.
    let last = -1;
    while (held !== last) {
      last = held;
      await sleep(300);
    }
    expect(held).toBeGreaterThanOrEqual(100);
    releaseHeld();
    await expect(Promise.all(calls)).resolves.toHaveLength(150);
  });

  it('answers a live service, with sensitive request and response fields encrypted in transit', async () => {
    const res = await callerBus.events.request(
      echoV1,
      { text: 'hello', code: '135790' },
      { timeoutMs: 3_000 },
    );
    expect(res).toEqual({ text: 'HELLO', code: '135790!' });
    expect(received.at(-1)).toEqual({ text: 'hello', code: '135790' });
    const atRest = (await drainQueue(ch, 'rpc-tap')).map((m) => m.content.toString()).join('\n');
    expect(atRest).toContain('"type":"test.echo.v1"');
    expect(atRest).not.toContain('135790');
    expect(serverLogs.text() + callerLogs.text()).not.toContain('135790');
    await ch.deleteQueue('rpc-tap');
  });

  it('brings a remote DomainError back with its code, status and extra', async () => {
    const error = await rejection(callerBus.events.request(echoV1, { text: 'x', fail: 'domain' }));
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({
      code: 'code_mismatch',
      status: 422,
      detail: 'The code is not right.',
      extra: { attemptsRemaining: 2 },
    });
  });

  it('turns an unexpected remote failure into internal_error without leaking its message', async () => {
    const error = await rejection(callerBus.events.request(echoV1, { text: 'x', fail: 'crash' }));
    expect(error).toMatchObject({ code: 'internal_error', status: 500 });
    expect(error.detail).not.toContain('exploded');
  });

  it('refuses an invalid request before sending it', async () => {
    await expect(
      callerBus.events.request(echoV1, { text: 'x'.repeat(500) }),
    ).rejects.toBeInstanceOf(ContractViolationError);
  });

  it('fails fast with service_unavailable when no service serves the command', async () => {
    const started = Date.now();
    const error = await rejection(
      callerBus.events.request(nobodyV1, { x: 1 }, { timeoutMs: 5_000 }),
    );
    expect(error).toMatchObject({ code: 'service_unavailable', status: 503 });
    expect(error.detail).toBe('no service is serving test.nobody.home.v1');
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('answers service_unavailable at the deadline when the service queue has no consumer, and the request expires', async () => {
    await ch.assertQueue('stale.rpc', { durable: false });
    await ch.bindQueue('stale.rpc', 'phonegate.rpc', nobodyV1.pattern);
    const started = Date.now();
    const error = await rejection(callerBus.events.request(nobodyV1, { x: 1 }, { timeoutMs: 400 }));
    const elapsed = Date.now() - started;
    expect(error).toMatchObject({ code: 'service_unavailable', status: 503 });
    expect(error.detail).toBe('test.nobody.home.v1 did not answer within 400 ms');
    expect(elapsed).toBeGreaterThanOrEqual(390);
    expect(elapsed).toBeLessThan(1_000);
    await sleep(100);
    expect((await ch.checkQueue('stale.rpc')).messageCount).toBe(0);
    await ch.deleteQueue('stale.rpc');
  });

  it('fails a call in flight at once when the caller loses its connection, and recovers', async () => {
    const started = Date.now();
    let failedAt = 0;
    const pending = rejection(
      callerBus.events.request(echoV1, { text: 'slow' }, { timeoutMs: 20_000 }),
    ).finally(() => (failedAt = Date.now()));
    await sleep(100);
    expect(await closeConnectionsNamed(vhost.name, 'identity')).toBe(1);
    const killedAt = Date.now();
    const error = await pending;
    expect(error).toMatchObject({ code: 'service_unavailable' });
    expect(error.detail).toMatch(/connection to the bus was lost|request channel was closed/);
    // Failed with the connection (the handler is still holding the request), long before the deadline (20 s).
    expect(failedAt - killedAt).toBeLessThan(500);
    expect(failedAt - started).toBeLessThan(15_000);
    releaseSlow();
    await callerBus.connection.waitUntilConnected(5_000);
    await expect(callerBus.events.request(echoV1, { text: 'back' })).resolves.toEqual({
      text: 'BACK',
    });
  });

  it('answers service_unavailable at once once the service has stopped', async () => {
    await app.close();
    const started = Date.now();
    const error = await rejection(
      callerBus.events.request(echoV1, { text: 'anyone?' }, { timeoutMs: 5_000 }),
    );
    expect(error).toMatchObject({ code: 'service_unavailable', status: 503 });
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
