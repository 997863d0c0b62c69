import { Body, Controller, Get, HttpCode, Module, Param, Post } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  AcceptsBodies,
  createLogger,
  createRedis,
  createServiceApp,
  DomainError,
  parseApiKeys,
  PlatformModule,
  Public,
  redisReady,
  Scopes,
  zodBody,
} from '../../src';
import { dropRedisPrefix, LogCapture, redisPrefix, TEST_INFRA } from '../../src/testing';

const phoneBody = z.object({ number: z.string().min(5), code: z.string().optional() });
let calls = 0;

@Controller('v1/things')
class ThingsController {
  @Post()
  @HttpCode(201)
  @Scopes('storefront')
  create(@Body(zodBody(phoneBody)) body: z.infer<typeof phoneBody>) {
    calls += 1;
    return { id: `thing-${calls}`, number: body.number };
  }

  @Post('fail')
  @Scopes('storefront')
  fail() {
    throw new DomainError('code_mismatch', 'That code is not right.', { attemptsRemaining: 2 });
  }

  @Post('slow-down')
  @Scopes('storefront')
  slow() {
    throw new DomainError('rate_limited', 'Too many requests.', { retryAfter: 30 });
  }

  @Get('ops-only')
  @Scopes('ops')
  opsOnly() {
    return { ok: true };
  }

  @Post(':id/touch')
  @Scopes('storefront')
  touch(@Param('id') id: string) {
    calls += 1;
    return { id };
  }

  @Post('callback')
  @Public()
  @HttpCode(200)
  @AcceptsBodies('application/x-www-form-urlencoded', 'text/plain')
  callback(@Body() body: unknown) {
    calls += 1;
    return { got: body };
  }
}

describe('platform HTTP edge', () => {
  let app: NestFastifyApplication;
  let redis: Redis;
  const logs = new LogCapture();
  const auth = { authorization: 'Bearer sf-key' };
  const prefix = redisPrefix();

  beforeAll(async () => {
    redis = createRedis({ url: TEST_INFRA.redisUrl, keyPrefix: prefix });
    await redisReady(redis);
    const logger = createLogger({ service: 'platform-test', destination: logs });
    @Module({
      imports: [PlatformModule.forRoot({ service: 'platform-test', logger, apiKeys: parseApiKeys('sf-key:storefront,ops-key:ops') })],
      controllers: [ThingsController],
    })
    class TestModule {}
    app = await createServiceApp({ name: 'platform-test', module: TestModule, logger, redis, swagger: { title: 't', description: 't' } });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });

  afterAll(async () => {
    await app.close();
    await redis.quit();
    await dropRedisPrefix(prefix);
  });

  it('answers problem+json with a stable code and extras for a domain error', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/things/fail', headers: auth, payload: {} });
    expect(res.statusCode).toBe(422);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 2, status: 422 });
    expect(res.headers['x-request-id']).toBeTruthy();
  });

  it('sends Retry-After with 429', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/things/slow-down', headers: auth, payload: {} });
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('30');
  });

  it('lists each bad field and changes nothing', async () => {
    const before = calls;
    const res = await app.inject({ method: 'POST', url: '/v1/things', headers: auth, payload: { number: 1 } });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0]).toMatchObject({ field: 'number' });
    expect(calls).toBe(before);
  });

  /** POSTs a raw body of the given content type (to /v1/things with the storefront key unless told). */
  const postAs = (type: string, payload: string, url = '/v1/things', headers: Record<string, string> = auth) =>
    app.inject({ method: 'POST', url, headers: { ...headers, 'content-type': type }, payload });

  // Broken JSON stays broken JSON, a forbidden key in it or not.
  it.each(['{"number":', '{"__proto__":'])('answers malformed JSON %s with a problem', async (payload) => {
    const res = await postAs('application/json', payload);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'malformed_request', detail: expect.stringContaining('not valid JSON') });
  });

  it.each([
    ['__proto__', '{"number":"+14155550123","__proto__":{"admin":true}}', '__proto__'],
    ['a nested __proto__', '{"number":"+14155550123","code":{"x":[{"__proto__":{}}]}}', '__proto__'],
    ['constructor.prototype', '{"number":"+14155550123","constructor":{"prototype":{"admin":true}}}', 'constructor.prototype'],
  ])('answers well-formed JSON with %s as a forbidden key, not as broken JSON, and changes nothing', async (_, payload, key) => {
    const before = calls;
    const res = await postAs('application/json', payload, '/v1/things', { ...auth, 'x-request-id': 'req-proto-1' });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.headers['x-request-id']).toBe('req-proto-1');
    const problem = res.json();
    expect(problem).toMatchObject({ status: 400, code: 'malformed_request', title: 'Bad Request' });
    expect(problem.detail).toContain(`forbidden key ${key}`);
    expect(problem.detail).not.toMatch(/valid JSON|send a JSON body/i);
    expect(res.body).not.toContain('4155550123');
    expect(calls).toBe(before);
  });

  it.each([
    ['a top-level string', '{"number":"+1415555\\u0000123"}', 'number'],
    ['a nested string', '{"number":"+14155550123","code":{"x":["ok","a\\u0000b"]}}', 'code.x.1'],
    ['a key', '{"number":"+14155550123","a\\u0000":"x"}', 'a\\u0000'],
  ])('refuses a NUL character in %s with 422 naming the field, and changes nothing', async (_, payload, field) => {
    const before = calls;
    const res = await postAs('application/json', payload);
    expect(res.statusCode).toBe(422);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const problem = res.json();
    expect(problem.code).toBe('validation_failed');
    expect(problem.errors).toEqual([expect.objectContaining({ field: JSON.parse(`"${field}"`), code: 'invalid_characters' })]);
    expect(calls).toBe(before);
  });

  it.each([
    ['a path parameter', 'POST', '/v1/things/a%00b/touch', 'id'],
    ['a query parameter', 'POST', '/v1/things/ab/touch?note=x%00y', 'note'],
  ])('refuses a NUL character in %s with 422 naming it, and changes nothing', async (_, method, url, field) => {
    const before = calls;
    const res = await app.inject({ method: method as 'POST', url, headers: auth, payload: {} });
    expect(res.statusCode).toBe(422);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ code: 'validation_failed', errors: [expect.objectContaining({ field, code: 'invalid_characters' })] });
    expect(calls).toBe(before);
  });

  it('still takes an escaped backslash followed by u0000 (no NUL in it)', async () => {
    const res = await postAs('application/json', '{"number":"+1415\\\\u0000"}');
    expect(res.statusCode).toBe(201);
    expect(res.json().number).toBe('+1415\\u0000');
  });

  it.each([
    ['application/x-www-form-urlencoded', 'number=%2B14155550123'],
    ['text/plain', '{"number":"+14155550123"}'],
    ['application/xml', '<number>+14155550123</number>'],
  ])('answers a %s body 415 unsupported_media_type (bodies are JSON) and changes nothing', async (type, payload) => {
    const before = calls;
    const res = await postAs(type, payload);
    expect(res.statusCode).toBe(415);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ status: 415, code: 'unsupported_media_type' });
    expect(calls).toBe(before);
  });

  it('takes JSON with a charset, and the body types a route declares', async () => {
    expect((await postAs('Application/JSON; charset=utf-8', '{"number":"+14155550123"}')).statusCode).toBe(201);
    const form = await postAs('application/x-www-form-urlencoded', 'MessageStatus=delivered', '/v1/things/callback', {});
    expect(form.statusCode).toBe(200);
    expect(form.json()).toEqual({ got: { MessageStatus: 'delivered' } });
    expect((await postAs('text/plain', 'x', '/v1/things/callback', {})).statusCode).toBe(200);
    expect((await postAs('application/xml', '<x/>', '/v1/things/callback', {})).statusCode).toBe(415);
  });

  it('refuses a NUL in a form or text body a route takes (422 naming the field, the handler not run), and answers a form posted to no route 404', async () => {
    const before = calls;
    const form = await postAs('application/x-www-form-urlencoded', 'MessageStatus=deliv%00ered&To=x', '/v1/things/callback', {});
    expect(form.statusCode).toBe(422);
    expect(form.json()).toMatchObject({ code: 'validation_failed', errors: [{ field: 'MessageStatus', code: 'invalid_characters' }] });
    const key = await postAs('application/x-www-form-urlencoded', 'Message%00Status=delivered', '/v1/things/callback', {});
    expect(key.statusCode).toBe(422);
    const text = await postAs('text/plain', 'a\u0000b', '/v1/things/callback', {});
    expect(text.statusCode).toBe(422);
    expect(text.json().errors[0].field).toBe('(body)');
    expect(calls).toBe(before);
    const nowhere = await postAs('application/x-www-form-urlencoded', 'a=b', '/v1/no-such-route', {});
    expect(nowhere.statusCode).toBe(404);
    expect(nowhere.json().code).toBe('not_found');
  });

  it('takes a path id of 200 characters, and answers a longer segment or a broken URL with problem+json, touching nothing', async () => {
    const long = 'd'.repeat(200);
    const ok = await app.inject({ method: 'POST', url: `/v1/things/${long}/touch`, headers: auth });
    expect({ status: ok.statusCode, id: ok.json().id }).toEqual({ status: 201, id: long });
    const before = calls;
    const tooLong = await app.inject({
      method: 'POST',
      url: `/v1/things/${'a'.repeat(600)}/touch`,
      headers: { ...auth, 'x-request-id': 'req-long-1' },
    });
    expect(tooLong.statusCode).toBe(404);
    expect(tooLong.headers['content-type']).toContain('application/problem+json');
    expect(tooLong.headers['x-request-id']).toBe('req-long-1');
    expect(tooLong.json()).toMatchObject({ status: 404, code: 'not_found' });
    expect(tooLong.body).not.toContain('a'.repeat(100));
    const broken = await app.inject({ method: 'POST', url: '/v1/things/%E0%A4%A/touch', headers: auth });
    expect(broken.statusCode).toBe(400);
    expect(broken.headers['content-type']).toContain('application/problem+json');
    expect(broken.json()).toMatchObject({ code: 'malformed_request' });
    expect(calls).toBe(before);
  });

  it('401 without or with a wrong key, 403 without the scope', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/things/ops-only' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/v1/things/ops-only', headers: { authorization: 'Bearer nope' } })).statusCode).toBe(401);
    const res = await app.inject({ method: 'GET', url: '/v1/things/ops-only', headers: auth });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('forbidden');
    expect((await app.inject({ method: 'GET', url: '/v1/things/ops-only', headers: { authorization: 'Bearer ops-key' } })).statusCode).toBe(200);
  });

  it('replays the first answer for the same Idempotency-Key and refuses another body', async () => {
    const headers = { ...auth, 'idempotency-key': 'k-1' };
    const first = await app.inject({ method: 'POST', url: '/v1/things', headers, payload: { number: '+14155550123' } });
    const again = await app.inject({ method: 'POST', url: '/v1/things', headers, payload: { number: '+14155550123' } });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.json()).toEqual(first.json());
    expect(again.headers['idempotent-replayed']).toBe('true');
    const other = await app.inject({ method: 'POST', url: '/v1/things', headers, payload: { number: '+14155550999' } });
    expect(other.statusCode).toBe(409);
    expect(other.json().code).toBe('idempotency_conflict');
  });

  it('serves health, metrics and the OpenAPI document', async () => {
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain('http_request_duration_seconds');
    const doc = await app.inject({ method: 'GET', url: '/docs-json' });
    expect(doc.json().paths['/v1/things']).toBeDefined();
  });

  it('logs one access line per request with the route pattern and its request id, none for health', async () => {
    const before = logs.lines.length;
    const res = await app.inject({
      method: 'GET',
      url: '/v1/things/ops-only?to=%2B14155550123',
      headers: { authorization: 'Bearer ops-key', 'x-request-id': 'req-access-1' },
    });
    expect(res.statusCode).toBe(200);
    await app.inject({ method: 'GET', url: '/health/live' });
    await app.inject({ method: 'GET', url: '/metrics' });
    const lines = logs.lines.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    const access = lines.filter((l) => l['msg'] === 'request completed');
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({
      level: 'info',
      requestId: 'req-access-1',
      http: { method: 'GET', route: '/v1/things/ops-only', statusCode: 200 },
    });
    expect(typeof access[0]?.['responseTime']).toBe('number');
    expect(JSON.stringify(lines)).not.toContain('4155550123');
  });

  it('never logs the full number or the key', () => {
    expect(logs.text()).not.toContain('4155550123');
    expect(logs.text()).not.toContain('sf-key');
  });
});
