import { randomUUID } from 'node:crypto';
import { Controller, type INestMicroservice, Module } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { createTestVhost, eventually, type TestVhost } from '@phonegate/platform/testing';
import { Registry } from 'prom-client';
import { Bus } from '../../src/bus';
import { OnEvent } from '../../src/bus.decorators';
import { ContractViolationError } from '../../src/errors';
import {
  capturedLogger,
  itemCreatedV1,
  sleep,
  startMicroservice,
  TEST_CONTRACTS,
  testKeys,
} from '../support/fixtures';
import { depths } from '../support/rabbit';

jest.setTimeout(30_000);

const started: number[] = [];
const finished: number[] = [];

@Controller()
class SlowConsumer {
  @OnEvent(itemCreatedV1)
  async onItem(@Payload() data: { n: number }) {
    started.push(data.n);
    await sleep(600);
    finished.push(data.n);
  }
}

@Module({ controllers: [SlowConsumer] })
class SlowModule {}

describe('graceful shutdown and publish-side validation', () => {
  let vhost: TestVhost;
  let producer: Bus;
  let consumer: Bus;
  let app: INestMicroservice;
  const { logger } = capturedLogger('svc');

  beforeAll(async () => {
    vhost = await createTestVhost();
    const common = {
      url: vhost.url,
      ...testKeys(),
      logger,
      contracts: TEST_CONTRACTS,
      metrics: new Registry(),
    };
    consumer = new Bus({ ...common, service: 'svc', prefetch: 5 });
    producer = new Bus({ ...common, service: 'pub', metrics: new Registry() });
    await consumer.start();
    app = await startMicroservice(SlowModule, consumer.server);
    await producer.start();
  });

  afterAll(async () => {
    await app?.close();
    await consumer?.close();
    await producer?.close();
    await vhost?.drop();
  });

  it('refuses to publish data that breaks the contract, naming the field but not the value', async () => {
    const error = await producer.events
      .publish(itemCreatedV1, { n: -1, run: 'x', secret: 'hunter2' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ContractViolationError);
    expect((error as Error).message).toBe(
      'test.item.created.v1 does not match its contract: n too_small',
    );
  });

  it('stops taking messages on close, finishes those in flight and acks them', async () => {
    const run = randomUUID();
    for (let n = 0; n < 5; n++) await producer.events.publish(itemCreatedV1, { n, run });
    await eventually(() => started.length === 5);
    expect(finished).toHaveLength(0);
    const closing = app.close(); // RabbitMqServer.close(): cancel, drain, close channels
    await sleep(100);
    for (let n = 5; n < 8; n++) await producer.events.publish(itemCreatedV1, { n, run });
    await closing;
    // Everything in flight completed before the channels closed...
    expect(finished.sort()).toEqual([0, 1, 2, 3, 4]);
    // ...nothing new was taken after the cancel...
    expect(started.sort()).toEqual([0, 1, 2, 3, 4]);
    // ...and the in-flight ones were acked: only the three later events wait in the queue.
    await eventually(async () => (await depths(vhost.url, ['svc.events'])) === 3);
    expect(await depths(vhost.url, ['svc.events.dlq', 'svc.events.retry.1'])).toBe(0);
  });
});
