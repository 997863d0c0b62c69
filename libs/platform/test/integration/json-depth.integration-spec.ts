import { Body, Controller, HttpCode, Module, Post } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Redis } from 'ioredis';
import {
  createLogger,
  createRedis,
  createServiceApp,
  parseApiKeys,
  PlatformModule,
  Public,
  redisReady,
  Scopes,
} from '../../src';
import { dropRedisPrefix, LogCapture, redisPrefix, TEST_INFRA } from '../../src/testing';

let calls = 0;

@Controller('v1/depth')
class DepthController {
  @Post()
  @HttpCode(201)
  @Scopes('storefront')
  create(@Body() body: unknown) {
    calls += 1;
    return { ok: true, kind: typeof body };
  }

  @Post('open')
  @Public()
  @HttpCode(200)
  open() {
    calls += 1;
    return { ok: true };
  }
}

/** `{"a":{"a":…"leaf"…}}` nested `depth` objects deep. */
function nested(depth: number, leaf: string): string {
  return `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
}

/**
 * A JSON body is parsed before any guard runs, for every POST (even to a route that does not
 * exist), so what the platform does with a body is work anyone can make it do. A body of 64 KiB
 * nested ten thousand levels deep cost ~150 ms of the event loop when it held a NUL (each level
 * copied the whole path above it) and was answered with a 20 KB field name; with an
 * Idempotency-Key its fingerprint (JSON.stringify) overflowed the stack: 500 and an error line.
 */
describe('deeply nested JSON bodies', () => {
  let app: NestFastifyApplication;
  let redis: Redis;
  const logs = new LogCapture();
  const prefix = redisPrefix();
  const sf = { authorization: 'Bearer sf-depth-key', 'content-type': 'application/json' };
  const deep = 10_500; // ~63 KB: under the 64 KiB body limit

  beforeAll(async () => {
    redis = createRedis({ url: TEST_INFRA.redisUrl, keyPrefix: prefix });
    await redisReady(redis);
    const logger = createLogger({ service: 'depth-test', destination: logs });
    @Module({
      imports: [
        PlatformModule.forRoot({
          service: 'depth-test',
          logger,
          apiKeys: parseApiKeys('sf-depth-key:storefront'),
        }),
      ],
      controllers: [DepthController],
    })
    class DepthModule {}
    app = await createServiceApp({ name: 'depth-test', module: DepthModule, logger, redis });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });

  afterAll(async () => {
    await app.close();
    await redis.quit();
    await dropRedisPrefix(prefix);
  });

  it.each([
    ['an anonymous call to a guarded route', '/v1/depth', { 'content-type': 'application/json' }],
    [
      'an anonymous call to an open route',
      '/v1/depth/open',
      { 'content-type': 'application/json' },
    ],
    ['an anonymous call to no route', '/v1/nothing-here', { 'content-type': 'application/json' }],
  ])(
    'refuses a body nested too deep holding a NUL from %s: 400 malformed_request, a short answer',
    async (_, url, headers) => {
      const before = calls;
      const payload = nested(deep, '"x\\u0000"');
      expect(payload.length).toBeLessThan(64 * 1024);
      const res = await app.inject({ method: 'POST', url, headers, payload });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'malformed_request' });
      expect(res.body.length).toBeLessThan(1_000);
      expect(calls).toBe(before);
    },
  );

  it('refuses a deep body sent with an Idempotency-Key as malformed (400), not 500, keeping nothing', async () => {
    const before = calls;
    const errorsBefore = logs.lines.filter((l) => l.includes('"level":"error"')).length;
    for (const payload of [nested(deep, '"x"'), `${'['.repeat(30_000)}${']'.repeat(30_000)}`]) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/depth',
        headers: { ...sf, 'idempotency-key': `deep-${payload.length}` },
        payload,
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'malformed_request' });
    }
    expect(calls).toBe(before);
    expect(logs.lines.filter((l) => l.includes('"level":"error"')).length).toBe(errorsBefore);
    expect(await redis.keys('idem:*')).toEqual([]);
  });

  it('takes a body nested as deep as the limit (32 levels), and refuses one level more', async () => {
    const ok = await app.inject({
      method: 'POST',
      url: '/v1/depth',
      headers: sf,
      payload: nested(31, '[1]'),
    });
    expect(ok.statusCode).toBe(201);
    const over = await app.inject({
      method: 'POST',
      url: '/v1/depth',
      headers: sf,
      payload: nested(32, '[1]'),
    });
    expect(over.statusCode).toBe(400);
    expect(over.json()).toMatchObject({ code: 'malformed_request' });
    expect(over.json().detail).toContain('32');
  });
});
