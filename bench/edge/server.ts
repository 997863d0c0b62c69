/**
 * One of the three servers bench/edge/run.ts compares (argv[2]: fastify | nest | platform), all
 * with the same route: POST /v1/things, a zod-validated body, 201 with a small JSON answer.
 * Prints `listening <port>` when ready.
 */
import 'reflect-metadata';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { Body, Controller, HttpCode, Module, Post } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  API_KEYS,
  ApiKeyGuard,
  createLogger,
  createServiceApp,
  parseApiKeys,
  PlatformModule,
  Scopes,
  zodBody,
} from '@phonegate/platform';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { z } from 'zod';

const schema = z.object({
  to: z.string().min(3).max(40),
  channel: z.enum(['sms', 'voice', 'email']),
  purpose: z.string().max(40),
});

function answer(body: z.infer<typeof schema>) {
  return { id: randomUUID(), status: 'pending', channel: body.channel };
}

@Controller('v1')
class ThingsController {
  @Post('things')
  @HttpCode(201)
  @Scopes('storefront')
  create(@Body(zodBody(schema)) body: z.infer<typeof schema>) {
    return answer(body);
  }
}

@Module({ controllers: [ThingsController] })
class BareModule {}

@Module({
  controllers: [ThingsController],
  providers: [
    { provide: API_KEYS, useValue: parseApiKeys('bench-key:storefront') },
    { provide: APP_GUARD, useClass: ApiKeyGuard },
  ],
})
class GuardModule {}

async function listen(kind: string): Promise<{ port: number; close: () => Promise<void> }> {
  if (kind === 'fastify') {
    const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
    app.post('/v1/things', async (request, reply) =>
      reply.status(201).send(answer(schema.parse(request.body))),
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    return {
      port: typeof address === 'object' && address ? address.port : 0,
      close: () => app.close(),
    };
  }
  let app: NestFastifyApplication;
  let redis: Redis | undefined;
  if (kind === 'nest' || kind === 'nest-als' || kind === 'nest-guard') {
    app = await NestFactory.create<NestFastifyApplication>(
      kind === 'nest-guard' ? GuardModule : BareModule,
      new FastifyAdapter(),
      {
        logger: false,
      },
    );
    if (kind === 'nest-als') {
      const storage = new AsyncLocalStorage<{ id: number }>();
      let n = 0;
      app
        .getHttpAdapter()
        .getInstance()
        .addHook('onRequest', (_req, _reply, done) => {
          storage.run({ id: n++ }, done);
        });
    }
  } else {
    const logger = createLogger({ service: 'edge', level: 'warn' });
    redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', {
      keyPrefix: `edge:${process.pid}:`,
    });
    @Module({
      imports: [
        PlatformModule.forRoot({
          service: 'edge',
          logger,
          apiKeys: parseApiKeys('bench-key:storefront'),
          redis,
        }),
      ],
      controllers: [ThingsController],
    })
    class PlatformAppModule {}
    app =
      kind === 'platform-module'
        ? await NestFactory.create<NestFastifyApplication>(
            PlatformAppModule,
            new FastifyAdapter(),
            {
              logger: false,
            },
          )
        : await createServiceApp({
            name: 'edge',
            module: PlatformAppModule,
            logger,
            ...(kind === 'platform-noidem' ? {} : { redis }),
          });
  }
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: async () => {
      await app.close();
      redis?.disconnect();
    },
  };
}

async function main(): Promise<void> {
  const kind = process.argv[2] ?? 'fastify';
  const server = await listen(kind);
  process.stdout.write(`listening ${server.port}\n`);
  process.on('SIGTERM', () => {
    void server.close().finally(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`edge server failed: ${String(error)}\n`);
  process.exit(1);
});
