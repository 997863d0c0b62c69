import { startCarrierSim, type CarrierSim } from '@phonegate/carrier-sim';
import { createLogger, createRedis, redisReady } from '@phonegate/platform';
import { dropRedisPrefix, LogCapture, redisPrefix, TEST_INFRA } from '@phonegate/platform/testing';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import {
  CarrierStack,
  MessageExpiredError,
  parseCarriersConfig,
  type BreakerStateChange,
  type OutboundMessage,
} from '../../src/carriers';

jest.setTimeout(60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let n = 0;
function sms(to: string, over: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    messageId: `msg-${++n}`,
    channel: 'sms',
    to,
    body: 'Your code is 123456\n\n@shop.example #123456',
    signal: AbortSignal.timeout(20_000),
    ...over,
  };
}

describe('failover between carriers against the simulator, with rate buckets in Redis', () => {
  let sim: CarrierSim;
  let redis: Redis;
  const prefix = redisPrefix();
  const stacks: CarrierStack[] = [];
  const logs = new LogCapture();
  const logger = createLogger({ service: 'notifier', level: 'debug', destination: logs });

  beforeAll(async () => {
    sim = await startCarrierSim({ smtpPort: false });
    redis = createRedis({ url: TEST_INFRA.redisUrl, keyPrefix: prefix });
    await redisReady(redis);
  });
  afterEach(async () => {
    await Promise.all(stacks.splice(0).map((s) => s.close()));
    sim.registry.reset();
    sim.store.clear();
  });
  afterAll(async () => {
    await sim.stop();
    redis.disconnect();
    await dropRedisPrefix(prefix);
  });

  function stack(
    carriers: Record<string, unknown>[],
    sms: string,
    extra: { registry?: Registry; changes?: BreakerStateChange[]; maxRateWaitMs?: number } = {},
  ): CarrierStack {
    const s = new CarrierStack({
      config: parseCarriersConfig({ carriers: JSON.stringify(carriers), sms }),
      redis,
      registry: extra.registry ?? new Registry(),
      logger,
      ...(extra.changes
        ? { onBreakerStateChange: (c: BreakerStateChange) => extra.changes!.push(c) }
        : {}),
      ...(extra.maxRateWaitMs !== undefined ? { maxRateWaitMs: extra.maxRateWaitMs } : {}),
    });
    stacks.push(s);
    return s;
  }

  const smppA = (over: Record<string, unknown> = {}) => ({
    id: 'smpp-a',
    type: 'smpp',
    host: '127.0.0.1',
    port: sim.ports.smpp,
    systemId: 'smpp-a',
    password: 'sim-a',
    ratePerSec: 1000,
    ...over,
  });
  const httpB = (over: Record<string, unknown> = {}) => ({
    id: 'http-b',
    type: 'http',
    baseUrl: sim.urls.http,
    accountSid: 'ACsimb',
    authToken: 'sim-token-b',
    from: '+15005550006',
    ratePerSec: 1000,
    ...over,
  });

  async function putCarrier(name: string, body: Record<string, unknown>): Promise<void> {
    const res = await fetch(`${sim.urls.control}/_sim/carriers/${name}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
  }

  it('opens the breaker of a carrier slowed to 5 s, moves traffic to the next, and closes it after recovery', async () => {
    const registry = new Registry();
    const changes: BreakerStateChange[] = [];
    const breaker = {
      volumeThreshold: 3,
      errorThresholdPercentage: 50,
      rollingCountTimeoutMs: '5s',
      rollingCountBuckets: 5,
      resetTimeoutMs: '700ms',
    };
    const s = stack([smppA({ timeoutMs: 300, breaker }), httpB()], 'smpp-a,http-b', {
      registry,
      changes,
    });
    await s.start();
    await putCarrier('smpp-a', { latencyMs: 5_000 });

    for (let i = 0; i < 3; i++) {
      const out = await s.sender.send(sms(`+1415555020${i}`));
      expect(out.carrierId).toBe('http-b');
      expect(out.attempts[0]).toMatchObject({
        carrierId: 'smpp-a',
        outcome: 'failed',
        kind: 'timeout',
      });
    }
    expect(s.sender.breakerState('smpp-a')).toBe('open');
    const gauge = async () =>
      (await registry.getSingleMetric('notifier_carrier_breaker_state')!.get()).values.find(
        (v) => v.labels['carrier'] === 'smpp-a',
      )?.value;
    expect(await gauge()).toBe(2);

    // Open: no time lost on smpp-a any more.
    const started = Date.now();
    const skipped = await s.sender.send(sms('+14155550210'));
    expect(Date.now() - started).toBeLessThan(250);
    expect(skipped.attempts.map((a) => `${a.carrierId}:${a.outcome}`)).toEqual([
      'smpp-a:open',
      'http-b:accepted',
    ]);

    await putCarrier('smpp-a', { latencyMs: 0 });
    for (let i = 0; i < 100 && s.sender.breakerState('smpp-a') !== 'half_open'; i++)
      await sleep(20);
    expect(await gauge()).toBe(1);
    const probe = await s.sender.send(sms('+14155550211'));
    expect(probe.carrierId).toBe('smpp-a');
    expect(s.sender.breakerState('smpp-a')).toBe('closed');
    expect(await gauge()).toBe(0);
    expect(changes.map((c) => `${c.carrierId}:${c.to}`)).toEqual([
      'smpp-a:open',
      'smpp-a:half_open',
      'smpp-a:closed',
    ]);
    const snapshot = s.sender.snapshot().find((c) => c.id === 'smpp-a')!;
    expect(snapshot).toMatchObject({ state: 'closed', connection: { session: 'bound' } });
    expect(snapshot.errorRate).toBeGreaterThan(0.5);
  });

  it('fails over from a carrier throttled through the control API', async () => {
    const s = stack([httpB(), smppA()], 'http-b,smpp-a');
    await putCarrier('http-b', { throttle: true });
    const out = await s.sender.send(sms('+14155550301'));
    expect(out.attempts.map((a) => `${a.carrierId}:${a.kind ?? a.outcome}`)).toEqual([
      'http-b:throttled',
      'smpp-a:accepted',
    ]);
    expect((await sim.store.waitFor((m) => m.to === '+14155550301')).carrier).toBe('smpp-a');
  });

  it('sends nothing once notAfter has passed, and never runs a call past it', async () => {
    const s = stack([httpB(), smppA()], 'http-b,smpp-a');
    await expect(
      s.sender.send(sms('+14155550401', { notAfter: new Date(Date.now() - 1) })),
    ).rejects.toBeInstanceOf(MessageExpiredError);

    await putCarrier('http-b', { latencyMs: 1_500 });
    const started = Date.now();
    const err = await s.sender
      .send(sms('+14155550402', { notAfter: new Date(Date.now() + 300) }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MessageExpiredError);
    expect((err as MessageExpiredError).attempts.map((a) => `${a.carrierId}:${a.kind}`)).toEqual([
      'http-b:timeout',
    ]);
    expect(Date.now() - started).toBeLessThan(600);
    await sleep(1_700); // the simulator would have answered the slow request by now
    expect(sim.store.list({ to: '+14155550401' })).toEqual([]);
    expect(sim.store.list({ to: '+14155550402' })).toEqual([]);
  });

  it('holds the send-rate ceiling across two sender instances sharing Redis', async () => {
    const carrier = smppA({ ratePerSec: 20, burst: 5, maxConcurrent: 100, maxQueue: 100 });
    const one = stack([carrier], 'smpp-a', { maxRateWaitMs: 10_000 });
    const two = stack([carrier], 'smpp-a', { maxRateWaitMs: 10_000 });
    await Promise.all([one.start(), two.start()]);
    const started = Date.now();
    const sends = Array.from({ length: 50 }, (_, i) =>
      (i % 2 ? one : two).sender.send(sms(`+1415556${String(1000 + i)}`)),
    );
    const results = await Promise.all(sends);
    const elapsed = Date.now() - started;
    expect(results.every((r) => r.carrierId === 'smpp-a')).toBe(true);
    // 5 at once, then 20 a second: 45 more need ≥ 2.25 s (one bucket for both senders).
    expect(elapsed).toBeGreaterThanOrEqual(2_100);
    const times = sim.store
      .list({ limit: 100 })
      .map((m) => m.receivedAt)
      .sort((a, b) => a - b);
    expect(times).toHaveLength(50);
    for (let i = 0; i < times.length; i++) {
      const inWindow = times.filter((t) => t >= times[i]! && t < times[i]! + 1_000).length;
      expect(inWindow).toBeLessThanOrEqual(5 + 20 + 1);
    }
    expect(await redis.exists('carrier:bucket:smpp-a')).toBe(1);
  });

  it('keeps destinations, bodies and codes out of the logs', () => {
    const text = logs.text();
    expect(text).toContain('message accepted by carrier');
    expect(text).toContain('carrier breaker opened');
    expect(text).not.toMatch(/41555\d{5}/);
    expect(text).not.toContain('123456');
    expect(text).not.toContain('Your code');
    expect(text).not.toContain('sim-a');
    expect(text).not.toContain('sim-token-b');
  });
});
