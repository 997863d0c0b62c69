import { startCarrierSim, type CarrierSim } from '@phonegate/carrier-sim';
import Fastify, { type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import {
  CarrierStack,
  HttpSmsCarrier,
  parseCarriersConfig,
  type CallbackCheck,
  type OutboundMessage,
} from '../../src/carriers';

jest.setTimeout(30_000);

let n = 0;
function msg(to: string, body: string, over: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    messageId: `msg-${++n}`,
    channel: 'sms',
    to,
    body,
    signal: AbortSignal.timeout(5_000),
    ...over,
  };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('HTTP (CPaaS-style) carrier against the simulator', () => {
  let sim: CarrierSim;
  let receiver: FastifyInstance;
  let receiverBase: string;
  let stack: CarrierStack;
  const checks: { carrier: string; check: CallbackCheck }[] = [];
  let tamper = false;

  beforeAll(async () => {
    sim = await startCarrierSim({ smppPort: false, smtpPort: false });
    // A stand-in for the notifier's POST /v1/carriers/:carrier/receipts.
    receiver = Fastify();
    receiver.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_r, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    receiver.post('/v1/carriers/:carrier/receipts', async (request, reply) => {
      const { carrier } = request.params as { carrier: string };
      const params = { ...(request.body as Record<string, string>) };
      if (tamper) params['MessageStatus'] = 'failed';
      const check = stack.readCallback({
        carrier,
        url: `${receiverBase}${request.url}`,
        params,
        headers: request.headers,
      });
      checks.push({ carrier, check });
      return reply.code(check.ok ? 204 : 401).send();
    });
    await receiver.listen({ port: 0, host: '127.0.0.1' });
    receiverBase = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}`;
    const config = parseCarriersConfig({
      carriers: JSON.stringify([
        {
          id: 'http-b',
          type: 'http',
          baseUrl: sim.urls.http,
          accountSid: 'ACsimb',
          authToken: 'sim-token-b',
          from: '+15005550006',
          timeoutMs: 300,
          breaker: { volumeThreshold: 20 },
        },
        {
          id: 'http-d',
          type: 'http',
          baseUrl: sim.urls.http,
          accountSid: 'ACsimd',
          authToken: 'sim-token-d',
          from: '+15005550007',
        },
      ]),
      receiptCallbackBaseUrl: receiverBase,
    });
    stack = new CarrierStack({ config, registry: new Registry() });
  });
  afterEach(() => {
    sim.registry.reset();
    sim.store.clear();
    checks.length = 0;
    tamper = false;
  });
  afterAll(async () => {
    await stack.close();
    await sim.stop();
    await receiver.close();
  });

  const httpB = () => stack.carriers.find((c) => c.id === 'http-b') as HttpSmsCarrier;

  /** The checked callbacks of one message (callbacks of earlier tests may still arrive). */
  async function callbacksOf(providerMessageId: string, count: number): Promise<CallbackCheck[]> {
    const of = () =>
      checks
        .map((c) => c.check)
        .filter((c) => c.ok && c.receipt?.providerMessageId === providerMessageId);
    for (let i = 0; i < 150 && of().length < count; i++) await sleep(20);
    return of();
  }

  it('sends an SMS and reads its signed status callbacks', async () => {
    const accepted = await httpB().send(msg('+14155550123', 'Your code is 123456'));
    expect(accepted.providerMessageId).toMatch(/^SM/);
    expect(await sim.store.waitFor((m) => m.to === '+14155550123')).toMatchObject({
      carrier: 'http-b',
      body: 'Your code is 123456',
      from: '+15005550006',
    });
    expect(await callbacksOf(accepted.providerMessageId, 2)).toEqual([
      {
        ok: true,
        receipt: expect.objectContaining({
          carrierId: 'http-b',
          providerMessageId: accepted.providerMessageId,
          status: 'sent',
          final: false,
        }),
      },
      {
        ok: true,
        receipt: expect.objectContaining({
          providerMessageId: accepted.providerMessageId,
          status: 'delivered',
          final: true,
        }),
      },
    ]);
  });

  it('refuses a callback whose parameters were changed after signing', async () => {
    tamper = true;
    await httpB().send(msg('+14155550124', 'x'));
    for (let i = 0; i < 100 && !checks.some((c) => !c.check.ok); i++) await sleep(20);
    expect(checks.filter((c) => !c.check.ok).map((c) => c.check)[0]).toEqual({
      ok: false,
      error: 'invalid_signature',
    });
    expect(
      stack.readCallback({ carrier: 'nope', url: 'http://x', params: {}, headers: {} }),
    ).toEqual({ ok: false, error: 'unknown_carrier' });
  });

  it('places a voice call whose TwiML speaks the text', async () => {
    const accepted = await httpB().send(
      msg('+14155550125', 'Your code is 1 2 3 4 5 6 & <again>', { channel: 'voice' }),
    );
    expect(accepted.providerMessageId).toMatch(/^CA/);
    expect(await sim.store.waitFor((m) => m.id === accepted.providerMessageId)).toMatchObject({
      channel: 'voice',
      body: 'Your code is 1 2 3 4 5 6 & <again>',
    });
    expect(await callbacksOf(accepted.providerMessageId, 1)).toEqual([
      {
        ok: true,
        receipt: expect.objectContaining({
          providerMessageId: accepted.providerMessageId,
          status: 'delivered',
          final: true,
        }),
      },
    ]);
  });

  it('maps an invalid number to a recipient error, 429 to throttled and 503 to unavailable', async () => {
    await expect(httpB().send(msg('+99912345678', 'x'))).rejects.toMatchObject({
      kind: 'recipient',
      retryable: false,
      providerCode: '21211',
    });
    sim.setBehaviour('http-b', { throttle: true });
    await expect(httpB().send(msg('+14155550123', 'x'))).rejects.toMatchObject({
      kind: 'throttled',
      retryable: true,
      retryAfterMs: 1000,
    });
    sim.setBehaviour('http-b', { throttle: false, down: true });
    await expect(httpB().send(msg('+14155550123', 'x'))).rejects.toMatchObject({
      kind: 'unavailable',
      retryable: true,
    });
  });

  it('aborts a slow request when the signal fires', async () => {
    sim.setBehaviour('http-b', { latencyMs: 2_000 });
    const started = Date.now();
    await expect(
      httpB().send(msg('+14155550123', 'x', { signal: AbortSignal.timeout(150) })),
    ).rejects.toMatchObject({ kind: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('answers unavailable when nothing listens', async () => {
    const dead = new HttpSmsCarrier({
      id: 'dead',
      baseUrl: 'http://127.0.0.1:1',
      accountSid: 'a',
      authToken: 't',
      from: '+1',
      channels: ['sms'],
    });
    await expect(dead.send(msg('+14155550123', 'x'))).rejects.toMatchObject({
      kind: 'unavailable',
      retryable: true,
    });
  });

  it('fails over to the second HTTP vendor when the first is throttling, through the stack', async () => {
    sim.setBehaviour('http-b', { throttle: true });
    const out = await stack.sender.send(msg('+14155550126', 'Your code is 654321'));
    expect(out.carrierId).toBe('http-d');
    expect(out.attempts.map((a) => `${a.carrierId}:${a.kind ?? a.outcome}`)).toEqual([
      'http-b:throttled',
      'http-d:accepted',
    ]);
    expect(sim.store.list({ to: '+14155550126' }).map((m) => m.carrier)).toEqual(['http-d']);
  });
});
