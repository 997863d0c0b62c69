import { Controller, Global, HttpCode, Module, Post } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Redis } from 'ioredis';
import {
  createLogger,
  createRedis,
  createServiceApp,
  parseApiKeys,
  PlatformModule,
  PRINCIPAL_RESOLVER,
  type Principal,
  type PrincipalResolver,
  redisReady,
  Scopes,
} from '../../src';
import { dropRedisPrefix, LogCapture, redisPrefix, TEST_INFRA } from '../../src/testing';

let calls = 0;

@Controller('v1/handoffs')
class HandoffsController {
  @Post()
  @HttpCode(200)
  @Scopes('courier')
  confirm() {
    calls += 1;
    return { n: calls };
  }
}

/** Device secrets as delivery-otp resolves them: valid until revoked. */
class Devices implements PrincipalResolver {
  readonly active = new Set(['device-secret-1', 'device-secret-2']);
  async resolve(token: string): Promise<Principal | undefined> {
    return this.active.has(token)
      ? { kind: 'device', id: token, scopes: ['courier'], courierId: 'c1' }
      : undefined;
  }
}

/**
 * The Idempotency-Key store answers only callers the service accepts now: a credential revoked
 * (a device secret, a key taken out of API_KEYS) is refused 401 by the guard like any other, not
 * replayed the answers it had before; an unknown one leaves nothing in Redis.
 */
describe('Idempotency-Key and authentication', () => {
  let app: NestFastifyApplication;
  let redis: Redis;
  const devices = new Devices();
  const prefix = redisPrefix();

  beforeAll(async () => {
    redis = createRedis({ url: TEST_INFRA.redisUrl, keyPrefix: prefix });
    await redisReady(redis);
    const logger = createLogger({ service: 'idem-auth-test', destination: new LogCapture() });
    // Global, as delivery-otp's infrastructure module is: the platform's guard finds it.
    @Global()
    @Module({
      providers: [{ provide: PRINCIPAL_RESOLVER, useValue: devices }],
      exports: [PRINCIPAL_RESOLVER],
    })
    class DevicesModule {}
    @Module({
      imports: [
        DevicesModule,
        PlatformModule.forRoot({
          service: 'idem-auth-test',
          logger,
          apiKeys: parseApiKeys('ops-key:ops'),
        }),
      ],
      controllers: [HandoffsController],
    })
    class TestModule {}
    app = await createServiceApp({ name: 'idem-auth-test', module: TestModule, logger, redis });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });

  afterAll(async () => {
    await app.close();
    await redis.quit();
    await dropRedisPrefix(prefix);
  });

  const post = (secret: string, key: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/handoffs',
      headers: { authorization: `Bearer ${secret}`, 'idempotency-key': key },
      payload: { code: '1234' },
    });

  it('replays for a credential still accepted, and refuses (401) one revoked since, keeping nothing for it', async () => {
    const first = await post('device-secret-1', 'k-revoked');
    expect(first.statusCode).toBe(200);
    const again = await post('device-secret-1', 'k-revoked');
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());

    devices.active.delete('device-secret-1');
    const revoked = await post('device-secret-1', 'k-revoked');
    expect(revoked.statusCode).toBe(401);
    expect(revoked.headers['idempotent-replayed']).toBeUndefined();
    const made = await post('device-secret-1', 'k-after-revoke');
    expect(made.statusCode).toBe(401);
    expect(await redis.keys(`${prefix}*`)).toHaveLength(1);

    // Another device, still active, is answered as before.
    const other = await post('device-secret-2', 'k-revoked');
    expect(other.statusCode).toBe(200);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
  });
});
