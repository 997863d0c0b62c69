import Fastify, { type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { SIGNATURE_HEADER, signCallback, startCarrierSim, type CarrierSim } from '../src';

jest.setTimeout(30_000);

const auth = 'Basic ' + Buffer.from('ACsimb:sim-token-b').toString('base64');

describe('carrier simulator: CPaaS-style HTTP API and control API', () => {
  let sim: CarrierSim;
  let receiver: FastifyInstance;
  let callbackUrl: string;
  const callbacks: { params: Record<string, string>; signature: string | undefined }[] = [];

  beforeAll(async () => {
    sim = await startCarrierSim({ smppPort: false, smtpPort: false, controlPort: 0 });
    receiver = Fastify();
    receiver.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_r, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    receiver.post('/cb', async (request, reply) => {
      callbacks.push({
        params: request.body as Record<string, string>,
        signature: request.headers[SIGNATURE_HEADER] as string | undefined,
      });
      return reply.code(204).send();
    });
    await receiver.listen({ port: 0, host: '127.0.0.1' });
    callbackUrl = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/cb?carrier=http-b`;
  });
  afterEach(() => {
    sim.registry.reset();
    sim.store.clear();
    callbacks.length = 0;
  });
  afterAll(async () => {
    await sim.stop();
    await receiver.close();
  });

  const post = (path: string, form: Record<string, string>, authorization = auth) =>
    fetch(`${sim.urls.http}/v1/accounts/ACsimb/${path}`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });

  async function waitFor<T>(fn: () => T | undefined, timeoutMs = 3000): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const value = fn();
      if (value !== undefined) return value;
      if (Date.now() > until) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('accepts a message with 201 queued and posts signed sent and delivered callbacks in order', async () => {
    const res = await post('messages', {
      To: '+14155550123',
      From: '+15005550006',
      Body: 'Your code 123',
      StatusCallback: callbackUrl,
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { sid: string; status: string };
    expect(body).toMatchObject({
      status: 'queued',
      sid: expect.stringMatching(/^SM[0-9a-f]{32}$/),
    });
    await waitFor(() => (callbacks.length >= 2 ? true : undefined));
    expect(callbacks.map((c) => c.params['MessageStatus'])).toEqual(['sent', 'delivered']);
    for (const c of callbacks) {
      expect(c.params['MessageSid']).toBe(body.sid);
      expect(c.signature).toBe(signCallback(callbackUrl, c.params, 'sim-token-b'));
    }
    const [record] = (await (
      await fetch(`${sim.urls.control}/_sim/messages?to=%2B14155550123`)
    ).json()) as Record<string, unknown>[];
    expect(record).toMatchObject({
      id: body.sid,
      channel: 'sms',
      to: '+14155550123',
      body: 'Your code 123',
      status: 'delivered',
      carrier: 'http-b',
    });
    expect(typeof record!['createdAt']).toBe('string');
  });

  it('reports undelivered with an error code when told to', async () => {
    sim.setBehaviour('http-b', { receiptStatus: 'undelivered', receiptDelayMs: 0 });
    await post('messages', {
      To: '+14155550123',
      From: '+15005550006',
      Body: 'x',
      StatusCallback: callbackUrl,
    });
    const final = await waitFor(() =>
      callbacks.find((c) => c.params['MessageStatus'] === 'undelivered'),
    );
    expect(final.params['ErrorCode']).toBe('30003');
  });

  it('places a call whose TwiML text is recorded as the body and reports completed', async () => {
    const twiml = '<Response><Say voice="alice">Your code is 1 2 3. &amp; again</Say></Response>';
    const res = await post('calls', {
      To: '+14155550123',
      From: '+15005550006',
      Twiml: twiml,
      StatusCallback: callbackUrl,
    });
    expect(res.status).toBe(201);
    const { sid } = (await res.json()) as { sid: string };
    expect(sid).toMatch(/^CA/);
    const done = await waitFor(() => callbacks.find((c) => c.params['CallSid'] === sid));
    expect(done.params['CallStatus']).toBe('completed');
    expect(sim.store.get(sid)).toMatchObject({
      channel: 'voice',
      body: 'Your code is 1 2 3. & again',
    });
  });

  it('answers 401 without the right basic auth, 400 21211 for a bad number, 429 when throttled, 500 on errors, 503 when down', async () => {
    const form = { To: '+14155550123', From: '+15005550006', Body: 'x' };
    expect((await post('messages', form, 'Basic eDp5')).status).toBe(401);
    const bad = await post('messages', { ...form, To: '+99912345678' });
    expect([bad.status, ((await bad.json()) as { code: number }).code]).toEqual([400, 21211]);
    const malformed = await post('messages', { ...form, To: '0800' });
    expect(((await malformed.json()) as { code: number }).code).toBe(21211);
    sim.setBehaviour('http-b', { throttle: true });
    const throttled = await post('messages', form);
    expect([throttled.status, throttled.headers.get('retry-after')]).toEqual([429, '1']);
    sim.setBehaviour('http-b', { throttle: false, errorRate: 1 });
    expect((await post('messages', form)).status).toBe(500);
    sim.setBehaviour('http-b', { errorRate: 0, down: true });
    expect((await post('messages', form)).status).toBe(503);
    expect(sim.store.count()).toBe(0);
  });

  it('applies the latency knob set through PUT /_sim/carriers/:name', async () => {
    const put = await fetch(`${sim.urls.control}/_sim/carriers/http-b`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ latencyMs: 250 }),
    });
    expect(put.status).toBe(200);
    expect(((await put.json()) as { behaviour: { latencyMs: number } }).behaviour.latencyMs).toBe(
      250,
    );
    const started = Date.now();
    expect((await post('messages', { To: '+14155550123', From: '+1500', Body: 'x' })).status).toBe(
      201,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
  });

  it('validates PUT bodies and unknown carriers', async () => {
    const put = (name: string, body: unknown) =>
      fetch(`${sim.urls.control}/_sim/carriers/${name}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await put('http-b', { errorRate: 2 })).status).toBe(400);
    expect((await put('http-b', { colour: 'red' })).status).toBe(400);
    expect((await put('nope', { down: true })).status).toBe(404);
  });

  it('lists messages newest first, filtered by to, channel and limit, and clears them', async () => {
    for (const [i, to] of ['+14155550001', '+14155550002', '+14155550001'].entries()) {
      await post('messages', { To: to, From: '+1500', Body: `m${i}` });
    }
    await post('calls', { To: '+14155550001', From: '+1500', Say: 'hello' });
    const get = async (q: string) =>
      (
        (await (await fetch(`${sim.urls.control}/_sim/messages${q}`)).json()) as { body: string }[]
      ).map((m) => m.body);
    expect(await get('')).toEqual(['hello', 'm2', 'm1', 'm0']);
    expect(await get('?to=%2B14155550001&channel=sms')).toEqual(['m2', 'm0']);
    expect(await get('?to=+14155550001&limit=1')).toEqual(['hello']);
    const carriers = (await (await fetch(`${sim.urls.control}/_sim/carriers`)).json()) as {
      name: string;
      stats: { accepted: number };
    }[];
    expect(carriers.find((c) => c.name === 'http-b')!.stats.accepted).toBe(4);
    expect((await fetch(`${sim.urls.control}/_sim/messages`, { method: 'DELETE' })).status).toBe(
      204,
    );
    expect(await get('')).toEqual([]);
  });
});
