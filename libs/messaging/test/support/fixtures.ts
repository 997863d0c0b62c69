import { randomBytes } from 'node:crypto';
import { defineCommand, defineEvent } from '@phonegate/contracts';
import { createLogger } from '@phonegate/platform';
import { LogCapture } from '@phonegate/platform/testing';
import { NestFactory } from '@nestjs/core';
import type { INestMicroservice, Type } from '@nestjs/common';
import type { Logger } from 'pino';
import { z } from 'zod';
import { BusExceptionFilter } from '../../src/bus-exception.filter';
import type { RabbitMqServer } from '../../src/rabbitmq.server';

export function testKeys(): { keys: Record<string, string>; activeKeyId: string } {
  return { keys: { k1: randomBytes(32).toString('base64') }, activeKeyId: 'k1' };
}

/** A logger whose every line is kept, so tests can check nothing sensitive was logged. */
export function capturedLogger(service = 'test'): { logger: Logger; capture: LogCapture } {
  const capture = new LogCapture();
  return { logger: createLogger({ service, level: 'debug', destination: capture }), capture };
}

export const itemCreatedV1 = defineEvent({
  type: 'test.item.created.v1',
  schema: z.object({ n: z.number().int().min(0), run: z.string(), secret: z.string().optional() }),
  example: { n: 1, run: 'r', secret: 's' },
  sensitive: ['secret'],
});

export const jobFailedV1 = defineEvent({
  type: 'test.job.failed.v1',
  schema: z.object({ n: z.number().int(), mode: z.enum(['retryable', 'fatal']) }),
  example: { n: 1, mode: 'retryable' },
});

export const alertRaisedV1 = defineEvent({
  type: 'test.alert.raised.v1',
  schema: z.object({ n: z.number().int(), priority: z.enum(['critical', 'bulk']) }),
  example: { n: 1, priority: 'critical' },
  routingSuffix: (d) => d.priority,
});

export const echoV1 = defineCommand({
  pattern: 'test.echo.v1',
  request: z.object({
    text: z.string().max(100),
    code: z.string().optional(),
    fail: z.enum(['domain', 'crash']).optional(),
  }),
  response: z.object({ text: z.string(), code: z.string().optional() }),
  exampleRequest: { text: 'hi' },
  exampleResponse: { text: 'hi' },
  sensitive: ['code'],
  sensitiveResponse: ['code'],
});

export const nobodyV1 = defineCommand({
  pattern: 'test.nobody.home.v1',
  request: z.object({ x: z.number() }),
  response: z.object({ x: z.number() }),
  exampleRequest: { x: 1 },
  exampleResponse: { x: 1 },
});

export const TEST_CONTRACTS = [itemCreatedV1, jobFailedV1, alertRaisedV1];
export const TEST_COMMANDS = [echoV1, nobodyV1];

/** A Nest microservice on the transport, with the filter that keeps handler errors intact. */
export async function startMicroservice(
  module: Type,
  server: RabbitMqServer,
): Promise<INestMicroservice> {
  const app = await NestFactory.createMicroservice(module, { strategy: server, logger: false });
  app.useGlobalFilters(new BusExceptionFilter());
  await app.listen();
  return app;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
