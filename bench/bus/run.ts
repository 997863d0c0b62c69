// Bus throughput: the transport (EventBus + RabbitMqServer) against raw
// amqplib (confirm channel, same quorum queue type, same prefetch), end to end
// (published with confirms, consumed and acked), in the same run.
//
//   node bench/run-ts.js bench/bus/run.ts
//   BENCH_N=20000 BENCH_ROUNDS=2 BENCH_GUARD=1 node bench/run-ts.js bench/bus/run.ts
//
// Target: the transport reaches >= 70% of the raw amqplib floor. Each round runs
// the floor then the transport back to back, so both see the same machine load;
// the verdict is on the median of the per-round ratios. Needs the local
// RabbitMQ (rabbitmqctl, guest/guest); BENCH_GUARD=1 adds the Redis idempotency
// guard (127.0.0.1:6379) to the transport's consumer. Exit code 1 below target.
import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Payload } from '@nestjs/microservices';
import { defineEvent } from '@phonegate/contracts';
import { Bus, BusExceptionFilter, OnEvent } from '@phonegate/messaging';
import { createTestVhost, type TestVhost } from '@phonegate/platform/testing';
import * as amqp from 'amqplib';
import Redis from 'ioredis';
import pino from 'pino';
import { Registry } from 'prom-client';
import { z } from 'zod';

const N = Number(process.env['BENCH_N'] ?? 20_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const PREFETCH = 200;
const WINDOW = 2_000; // unconfirmed publishes in flight, both sides
const TARGET = 0.7;
const useGuard = process.env['BENCH_GUARD'] === '1';

const benchEventV1 = defineEvent({
  type: 'bench.order.updated.v1',
  schema: z.object({
    orderId: z.string().uuid(),
    accountId: z.string().uuid(),
    status: z.enum(['placed', 'shipped', 'delivered']),
    seq: z.number().int(),
    locale: z.string(),
  }),
  example: {
    orderId: randomUUID(),
    accountId: randomUUID(),
    status: 'placed',
    seq: 0,
    locale: 'en',
  },
});

function sample(seq: number) {
  return {
    orderId: randomUUID(),
    accountId: randomUUID(),
    status: 'shipped' as const,
    seq,
    locale: 'en-GB',
  };
}

interface Result {
  publishMs: number;
  totalMs: number;
  /** CPU of this process (publisher + consumer) per message, µs. */
  clientCpuUs: number;
  /** CPU of the broker (beam.smp) per message, µs; NaN if unreadable. */
  brokerCpuUs: number;
}

/** Load-independent cost figures: CPU time of this process and of the broker over a run. */
function cpuMeter(): () => { clientCpuUs: number; brokerCpuUs: number } {
  const client = process.cpuUsage();
  const broker = brokerCpuTicks();
  return () => {
    const c = process.cpuUsage(client);
    const b = brokerCpuTicks();
    return { clientCpuUs: (c.user + c.system) / N, brokerCpuUs: ((b - broker) * 10_000) / N };
  };
}

function brokerCpuTicks(): number {
  try {
    const pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
    let ticks = 0;
    for (const pid of pids) {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        continue;
      }
      if (!stat.includes('(beam.smp)')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (1/100 s)
    }
    return ticks || NaN;
  } catch {
    return NaN;
  }
}

/** Raw amqplib: confirm channel publisher, manual-ack consumer, quorum queue, same prefetch and window. */
async function floor(url: string, round: number): Promise<Result> {
  const queue = `floor.${round}`;
  const pubConn = await amqp.connect(url);
  const subConn = await amqp.connect(url);
  const pub = await pubConn.createConfirmChannel();
  const sub = await subConn.createChannel();
  await pub.assertExchange('floor.events', 'topic', { durable: true });
  await sub.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await sub.bindQueue(queue, 'floor.events', benchEventV1.type);
  await sub.prefetch(PREFETCH);
  // A body of the same size as the transport's envelope.
  const body = (seq: number) =>
    Buffer.from(
      JSON.stringify({
        specversion: '1.0',
        id: randomUUID(),
        source: 'bench',
        type: benchEventV1.type,
        time: new Date().toISOString(),
        datacontenttype: 'application/json',
        data: sample(seq),
      }),
    );
  let consumed = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  await sub.consume(queue, (msg) => {
    if (!msg) return;
    sub.ack(msg);
    if (++consumed === N) resolveDone();
  });

  const meter = cpuMeter();
  const started = process.hrtime.bigint();
  let inflight = 0;
  let sent = 0;
  let confirmed = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      while (sent < N && inflight < WINDOW) {
        inflight++;
        const ok = pub.publish(
          'floor.events',
          benchEventV1.type,
          body(sent++),
          {
            persistent: true,
            mandatory: true,
            contentType: 'application/json',
            messageId: randomUUID(),
          },
          (err: unknown) => {
            inflight--;
            if (err) return reject(err instanceof Error ? err : new Error('nack'));
            if (++confirmed === N) resolve();
            else pump();
          },
        );
        if (!ok) {
          pub.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  const publishMs = ms(started);
  await done;
  const totalMs = ms(started);
  const cpu = meter();
  await pubConn.close();
  await subConn.close();
  return { publishMs, totalMs, ...cpu };
}

/** The transport: EventBus.publish (validate, envelope, confirms) and RabbitMqServer (validate, dispatch to Nest, ack). */
async function transport(url: string, round: number, redis: Redis | undefined): Promise<Result> {
  const keys = { keys: { k1: randomBytes(32).toString('base64') }, activeKeyId: 'k1' };
  const logger = pino({ level: 'warn' });
  let consumed = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));

  @Controller()
  class BenchConsumer {
    @OnEvent(benchEventV1)
    onEvent(@Payload() _data: unknown) {
      if (++consumed === N) resolveDone();
    }
  }
  @Module({ controllers: [BenchConsumer] })
  class BenchModule {}

  const common = {
    url,
    ...keys,
    logger,
    contracts: [benchEventV1],
    metrics: new Registry(),
    prefetch: PREFETCH,
    maxInFlight: WINDOW,
  };
  const consumer = new Bus({
    ...common,
    service: `bench${round}`,
    ...(redis ? { redis, idempotency: { prefix: `bench:${randomUUID()}:` } } : {}),
  });
  const publisher = new Bus({ ...common, service: 'bench-pub' });
  const app = await NestFactory.createMicroservice(BenchModule, {
    strategy: consumer.server,
    logger: false,
  });
  app.useGlobalFilters(new BusExceptionFilter());
  await consumer.start();
  await app.listen();
  await publisher.start();
  await publisher.connection.waitUntilConnected(10_000);

  // Same driving as the floor: at most WINDOW publishes awaiting their confirm.
  const meter = cpuMeter();
  const started = process.hrtime.bigint();
  let next = 0;
  const worker = async () => {
    while (next < N) await publisher.events.publish(benchEventV1, sample(next++));
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
  const publishMs = ms(started);
  await done;
  const totalMs = ms(started);
  const cpu = meter();
  await app.close();
  await consumer.close();
  await publisher.close();
  return { publishMs, totalMs, ...cpu };
}

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function rate(r: Result): string {
  return (
    `${Math.round((N / r.totalMs) * 1000).toLocaleString('en')} msg/s end to end ` +
    `(publish side ${Math.round((N / r.publishMs) * 1000).toLocaleString('en')} msg/s; ` +
    `CPU per message: client ${r.clientCpuUs.toFixed(0)} µs, broker ${r.brokerCpuUs.toFixed(0)} µs)`
  );
}

async function main(): Promise<void> {
  let vhost: TestVhost | undefined;
  const redis = useGuard ? new Redis('redis://127.0.0.1:6379') : undefined;
  try {
    vhost = await createTestVhost('bench');
    const floors: Result[] = [];
    const ours: Result[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // BENCH_ONLY=transport|floor runs one side (profiling); the ratio then is meaningless.
      if (process.env['BENCH_ONLY'] !== 'transport') floors.push(await floor(vhost.url, round));
      else floors.push({ publishMs: 1, totalMs: 1, clientCpuUs: 0, brokerCpuUs: 0 });
      if (process.env['BENCH_ONLY'] !== 'floor')
        ours.push(await transport(vhost.url, round, redis));
      else ours.push({ publishMs: 1, totalMs: 1, clientCpuUs: 0, brokerCpuUs: 0 });
      process.stdout.write(
        `round ${round + 1}: raw ${rate(floors.at(-1)!)}; transport ${rate(ours.at(-1)!)}\n`,
      );
    }
    const best = (rs: Result[]) => rs.reduce((a, b) => (b.totalMs < a.totalMs ? b : a));
    const ratios = floors.map((f, i) => f.totalMs / ours[i]!.totalMs).sort((a, b) => a - b);
    const ratio = ratios[Math.floor(ratios.length / 2)]!;
    process.stdout.write(
      [
        `bus bench: N=${N} per round, prefetch ${PREFETCH}, ${WINDOW} publishes in flight, quorum queues, ${ROUNDS} rounds${useGuard ? ', Redis idempotency guard on' : ''}`,
        `  raw amqplib floor (best round): ${rate(best(floors))}`,
        `  transport (best round):         ${rate(best(ours))}`,
        `  per-round ratios: ${ratios.map((r) => `${(r * 100).toFixed(0)}%`).join(', ')}`,
        `  median ratio: ${(ratio * 100).toFixed(1)}% of the floor (target >= ${TARGET * 100}%): ${ratio >= TARGET ? 'PASS' : 'FAIL'}`,
        '',
      ].join('\n'),
    );
    process.exitCode = ratio >= TARGET ? 0 : 1;
  } finally {
    redis?.disconnect();
    await vhost?.drop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(2);
});
