import { Controller, type INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { randomBytes } from 'node:crypto';
import { defineCommand, defineEvent } from '@phonegate/contracts';

import { createLogger, DomainError } from '@phonegate/platform';
import { eventually, LogCapture } from '@phonegate/platform/testing';
import { Registry } from 'prom-client';
import { z } from 'zod';
import { Bus } from '../../src/bus';
import type { BusContext } from '../../src/bus-context';
import { BusExceptionFilter } from '../../src/bus-exception.filter';
import { BusModule } from '../../src/bus.module';
import { inMemoryBrokerFor } from '../../src/in-memory-broker';

const thingDoneV1 = defineEvent({
  type: 'test.thing.done.v1',
  schema: z.object({ n: z.number().int(), secret: z.string().optional(), fail: z.boolean().optional() }),
  example: { n: 1 },
  sensitive: ['secret'],
});
const askV1 = defineCommand({
  pattern: 'test.thing.ask.v1',
  request: z.object({ q: z.string(), fail: z.boolean().optional() }),
  response: z.object({ a: z.string() }),
  exampleRequest: { q: 'x' },
  exampleResponse: { a: 'X' },
});
const nobodyV1 = defineCommand({
  pattern: 'test.thing.nobody.v1',
  request: z.object({ q: z.string() }),
  response: z.object({ a: z.string() }),
  exampleRequest: { q: 'x' },
  exampleResponse: { a: 'x' },
});

const seen: { n: number; secret?: string; attempt: number }[] = [];

@Controller()
class ThingController {
  @EventPattern<string>(thingDoneV1.type)
  done(@Payload() data: { n: number; secret?: string; fail?: boolean }, @Ctx() ctx: BusContext) {
    seen.push({ n: data.n, ...(data.secret ? { secret: data.secret } : {}), attempt: ctx.attempt });
    if (data.fail) throw new Error('handler failed');
  }

  @MessagePattern(askV1.pattern)
  ask(@Payload() req: { q: string; fail?: boolean }) {
    if (req.fail) throw new DomainError('code_mismatch', 'no', { attemptsRemaining: 1 });
    return { a: req.q.toUpperCase() };
  }
}

describe('memory:// broker (embedded mode) under the real transport', () => {
  const url = `memory://spec-${process.pid}`;
  const broker = inMemoryBrokerFor(url);
  const logs = new LogCapture();
  const logger = createLogger({ service: 'embedded-test', destination: logs, level: 'debug' });
  const keys = { keys: { k1: randomBytes(32).toString('base64') }, activeKeyId: 'k1' };
  let serverBus: Bus;
  let callerBus: Bus;
  let app: INestMicroservice;

  beforeAll(async () => {
    const common = { url, ...keys, contracts: [thingDoneV1], commands: [askV1, nobodyV1], metrics: new Registry(), logger };
    serverBus = new Bus({ ...common, service: 'svc', retry: { delaysMs: [20, 40], jitter: 0 } });
    callerBus = new Bus({ ...common, service: 'caller' });
    @Module({ imports: [BusModule.forRoot({ bus: serverBus })], controllers: [ThingController] })
    class SvcModule {}
    app = await NestFactory.createMicroservice(SvcModule, { strategy: serverBus.server, logger: false });
    app.useGlobalFilters(new BusExceptionFilter());
    await app.listen();
    await callerBus.start();
  });

  afterAll(async () => {
    await app.close();
    await callerBus.close();
  });

  it('delivers a published event to the handler, decrypting its sensitive field', async () => {
    await callerBus.events.publish(thingDoneV1, { n: 1, secret: '246810' });
    await eventually(() => seen.find((s) => s.n === 1));
    expect(seen.find((s) => s.n === 1)?.secret).toBe('246810');
    expect(logs.text()).not.toContain('246810');
  });

  it('answers request-reply, and brings back a remote domain error', async () => {
    await expect(callerBus.events.request(askV1, { q: 'hi' }, { timeoutMs: 2_000 })).resolves.toEqual({ a: 'HI' });
    await expect(callerBus.events.request(askV1, { q: 'hi', fail: true }, { timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'code_mismatch' });
  });

  it('fails fast with service_unavailable when nobody serves a command', async () => {
    const started = Date.now();
    await expect(callerBus.events.request(nobodyV1, { q: 'x' }, { timeoutMs: 3_000 })).rejects.toMatchObject({ code: 'service_unavailable' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('retries a failing handler through the delay tiers, then parks it in the DLQ', async () => {
    await callerBus.events.publish(thingDoneV1, { n: 2, fail: true });
    await eventually(() => broker.depth('svc.events.dlq') === 1, 10_000);
    const attempts = seen.filter((s) => s.n === 2).map((s) => s.attempt);
    expect(attempts.length).toBeGreaterThanOrEqual(3);
  });

});
