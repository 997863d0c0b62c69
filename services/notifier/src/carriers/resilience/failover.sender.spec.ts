import { createLogger } from '@phonegate/platform';
import { Registry } from 'prom-client';
import {
  AllCarriersFailedError,
  CarrierError,
  MessageExpiredError,
  NoRouteError,
} from '../carrier.errors';
import type { Accepted, Carrier, Channel, OutboundMessage } from '../carrier.types';
import { FailoverSender, type BreakerStateChange, type CarrierPolicy } from './failover.sender';

type Script = (message: OutboundMessage, call: number) => Promise<Accepted>;

/** A carrier whose answers the test scripts; it counts calls and sees the abort signal. */
class FakeCarrier implements Carrier {
  readonly channels: readonly Channel[] = ['sms'];
  calls = 0;
  aborted = 0;
  constructor(
    readonly id: string,
    public script: Script = async () => this.ok(),
  ) {}
  ok(): Accepted {
    return {
      carrierId: this.id,
      providerMessageId: `${this.id}-${this.calls}`,
      acceptedAt: new Date(),
    };
  }
  async send(message: OutboundMessage): Promise<Accepted> {
    this.calls++;
    message.signal.addEventListener('abort', () => this.aborted++, { once: true });
    return this.script(message, this.calls);
  }
}

const fail = (c: FakeCarrier) => async () => {
  throw CarrierError.unavailable(c.id, `${c.id}: HTTP 503`);
};
const hang = async (m: OutboundMessage): Promise<Accepted> =>
  new Promise((_, reject) =>
    m.signal.addEventListener('abort', () => reject(m.signal.reason as Error), { once: true }),
  );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function policy(
  over: Partial<CarrierPolicy> = {},
  breaker: Partial<CarrierPolicy['breaker']> = {},
): CarrierPolicy {
  return {
    timeoutMs: 500,
    ratePerSec: 1000,
    maxConcurrent: 10,
    maxQueue: 10,
    queueWaitMs: 100,
    ...over,
    breaker: {
      volumeThreshold: 3,
      errorThresholdPercentage: 50,
      rollingCountTimeoutMs: 10_000,
      rollingCountBuckets: 10,
      resetTimeoutMs: 150,
      ...breaker,
    },
  };
}

let n = 0;
function message(over: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    messageId: `m${++n}`,
    channel: 'sms',
    to: '+14155550123',
    body: 'Your code is 123456',
    signal: new AbortController().signal,
    ...over,
  };
}

describe('FailoverSender', () => {
  let a: FakeCarrier;
  let b: FakeCarrier;
  let sender: FailoverSender;
  let registry: Registry;
  let changes: BreakerStateChange[];

  function build(
    policies: Record<string, CarrierPolicy> = { a: policy(), b: policy() },
    extra: Partial<ConstructorParameters<typeof FailoverSender>[0]> = {},
  ) {
    sender?.close();
    registry = new Registry();
    changes = [];
    sender = new FailoverSender({
      carriers: [a, b],
      policies,
      routes: [
        { carrierId: 'a', channels: ['sms'], countries: ['*'] },
        { carrierId: 'b', channels: ['sms'], countries: ['+1'] },
      ],
      preferences: { sms: ['a', 'b'] },
      registry,
      onBreakerStateChange: (c) => changes.push(c),
      ...extra,
    });
  }

  beforeEach(() => {
    a = new FakeCarrier('a');
    b = new FakeCarrier('b');
    build();
  });
  afterEach(() => sender.close());

  async function breakerGauge(carrier: string): Promise<number | undefined> {
    const metric = await registry.getSingleMetric('notifier_carrier_breaker_state')!.get();
    return metric.values.find((v) => v.labels['carrier'] === carrier)?.value;
  }

  it('sends through the first carrier when it accepts', async () => {
    const out = await sender.send(message());
    expect(out).toMatchObject({ carrierId: 'a', providerMessageId: 'a-1' });
    expect(out.attempts.map((x) => [x.carrierId, x.outcome])).toEqual([['a', 'accepted']]);
    expect(b.calls).toBe(0);
  });

  it('writes no log line for an accepted send at info (the dispatcher logs the outcome), the detail at debug', async () => {
    const lines: string[] = [];
    const at = (level: string) =>
      createLogger({
        service: 'test',
        level,
        destination: { write: (line: string) => void lines.push(line) },
      });
    build(undefined, { logger: at('info') });
    await sender.send(message());
    expect(lines).toEqual([]);
    build(undefined, { logger: at('debug') });
    await sender.send(message());
    expect(lines.join('\n')).toContain('message accepted by carrier');
    expect(lines.join('\n')).not.toContain('4155550123');
  });

  it('falls through to the next carrier when a send fails, and one failure does not open the breaker', async () => {
    a.script = fail(a);
    const out = await sender.send(message());
    expect(out.carrierId).toBe('b');
    expect(out.attempts.map((x) => [x.carrierId, x.outcome, x.kind])).toEqual([
      ['a', 'failed', 'unavailable'],
      ['b', 'accepted', undefined],
    ]);
    expect(sender.breakerState('a')).toBe('closed');
    expect(await breakerGauge('a')).toBe(0);
  });

  it('puts a slow but working carrier after a faster one, probes it, and brings it back when fast again', async () => {
    let delayMs = 60;
    a.script = async () => {
      await sleep(delayMs);
      return a.ok();
    };
    build(undefined, { slowCallMs: 30, slowProbeEvery: 5 });
    const firstTries: string[] = [];
    for (let i = 0; i < 15; i++) {
      const out = await sender.send(message());
      firstTries.push(out.attempts[0]!.carrierId);
    }
    // The first send finds a slow; afterwards b goes first except for every 5th message (probe).
    expect(firstTries[0]).toBe('a');
    expect(firstTries.filter((c) => c === 'b').length).toBeGreaterThanOrEqual(10);
    expect(firstTries.filter((c) => c === 'a').length).toBeGreaterThanOrEqual(3);
    expect(sender.breakerState('a')).toBe('closed');
    // Fast again: the probes pull its average down and it leads again.
    delayMs = 0;
    for (let i = 0; i < 40; i++) await sender.send(message());
    const out = await sender.send(message());
    expect(out.attempts[0]!.carrierId).toBe('a');
    // A slow carrier is still used when the fast one fails.
    delayMs = 60;
    for (let i = 0; i < 10; i++) await sender.send(message());
    b.script = fail(b);
    const fallback = await sender.send(message());
    expect(fallback.carrierId).toBe('a');
  });

  it('passes over a carrier that has stalled before any slow answer has come back', async () => {
    // a stops answering: its first call is out, unanswered, for longer than slowCallMs.
    a.script = hang;
    build({ a: policy({ timeoutMs: 400 }), b: policy() }, { slowCallMs: 1_000, stallMs: 40 });
    const first = sender.send(message({ urgent: true }));
    await sleep(10);
    // Not yet past stallMs: a still goes first.
    const early = sender.send(message({ urgent: true }));
    await sleep(60);
    const started = Date.now();
    const later = await sender.send(message({ urgent: true }));
    expect(later.attempts.map((x) => [x.carrierId, x.outcome])).toEqual([['b', 'accepted']]);
    expect(Date.now() - started).toBeLessThan(200);
    // The stalled calls time out and go over to b.
    for (const out of await Promise.all([first, early]))
      expect(out.attempts.map((x) => [x.carrierId, x.outcome])).toEqual([
        ['a', 'failed'],
        ['b', 'accepted'],
      ]);
    // Once nothing is out and its average is fast, a leads again (one timeout of 400 ms in the
    // average keeps it slow for a while, so start from a fresh sender).
    a.script = async () => a.ok();
    build(undefined, { stallMs: 40 });
    expect((await sender.send(message({ urgent: true }))).carrierId).toBe('a');
  });

  it('does not count a carrier as stalled while its other calls keep answering', async () => {
    // One call of a hangs, the rest answer at once: a is busy, not stalled.
    a.script = async (m, call) => (call === 1 ? hang(m) : a.ok());
    build({ a: policy({ timeoutMs: 300 }), b: policy() }, { stallMs: 40 });
    const stuck = sender.send(message({ urgent: true }));
    for (let i = 0; i < 6; i++) {
      await sleep(20);
      expect((await sender.send(message({ urgent: true }))).attempts[0]!.carrierId).toBe('a');
    }
    await stuck;
  });

  it('probes a slow carrier with ordinary messages, not with codes, unless nothing else probes it', async () => {
    a.script = async () => {
      await sleep(60);
      return a.ok();
    };
    build(undefined, { slowCallMs: 30, slowProbeEvery: 3, urgentProbeAfterMs: 150 });
    await sender.send(message()); // a answers in 60 ms: slow from now on
    const urgentFirst: string[] = [];
    for (let i = 0; i < 9; i++)
      urgentFirst.push((await sender.send(message({ urgent: true }))).attempts[0]!.carrierId);
    // Codes never probe within urgentProbeAfterMs of the last probe (the first send).
    expect(urgentFirst).toEqual(Array(9).fill('b'));
    const ordinaryFirst: string[] = [];
    for (let i = 0; i < 9; i++)
      ordinaryFirst.push((await sender.send(message())).attempts[0]!.carrierId);
    expect(ordinaryFirst).toEqual(['b', 'b', 'a', 'b', 'b', 'a', 'b', 'b', 'a']);
    // With no probe for urgentProbeAfterMs, one code tries a (it still works, slowly), the next does not.
    await sleep(170);
    const probe = await sender.send(message({ urgent: true }));
    expect(probe.attempts[0]!.carrierId).toBe('a');
    expect(probe.carrierId).toBe('a');
    expect((await sender.send(message({ urgent: true }))).attempts[0]!.carrierId).toBe('b');
  });

  it('opens at the volume threshold and then passes the carrier over without calling it', async () => {
    a.script = fail(a);
    for (let i = 0; i < 3; i++) await sender.send(message());
    expect(sender.breakerState('a')).toBe('open');
    expect(await breakerGauge('a')).toBe(2);
    expect(changes).toEqual([
      expect.objectContaining({ carrierId: 'a', from: 'closed', to: 'open' }),
    ]);
    const out = await sender.send(message());
    expect(a.calls).toBe(3);
    expect(out.attempts.map((x) => [x.carrierId, x.outcome])).toEqual([
      ['a', 'open'],
      ['b', 'accepted'],
    ]);
  });

  it('does not count recipient errors nor try them elsewhere', async () => {
    a.script = async () => {
      throw CarrierError.recipient('a', 'a: invalid destination (0x0000000b)', {
        providerCode: '0x0000000b',
      });
    };
    for (let i = 0; i < 6; i++) {
      const err = await sender.send(message()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CarrierError);
      expect(err).toMatchObject({
        retryable: false,
        kind: 'recipient',
        attempts: [expect.objectContaining({ carrierId: 'a', outcome: 'recipient' })],
      });
    }
    expect(sender.breakerState('a')).toBe('closed');
    expect(b.calls).toBe(0);
  });

  it('half-opens after the reset time, lets exactly one probe through, and closes on its success', async () => {
    a.script = fail(a);
    for (let i = 0; i < 3; i++) await sender.send(message());
    expect(sender.breakerState('a')).toBe('open');
    await sleep(200);
    expect(sender.breakerState('a')).toBe('half_open');
    expect(await breakerGauge('a')).toBe(1);
    a.script = async () => {
      await sleep(50);
      return a.ok();
    };
    const [first, second] = await Promise.all([sender.send(message()), sender.send(message())]);
    expect(a.calls).toBe(4); // one probe only
    expect([first.carrierId, second.carrierId].sort()).toEqual(['a', 'b']);
    expect(sender.breakerState('a')).toBe('closed');
    expect(changes.map((c) => c.to)).toEqual(['open', 'half_open', 'closed']);
  });

  it('reopens when the half-open probe fails', async () => {
    a.script = fail(a);
    for (let i = 0; i < 3; i++) await sender.send(message());
    await sleep(200);
    await sender.send(message());
    expect(a.calls).toBe(4);
    expect(sender.breakerState('a')).toBe('open');
    expect(changes.map((c) => c.to)).toEqual(['open', 'half_open', 'open']);
  });

  it('aborts a call that passes the carrier timeout and fails over', async () => {
    build({ a: policy({ timeoutMs: 80 }), b: policy() });
    a.script = hang;
    const started = Date.now();
    const out = await sender.send(message());
    expect(Date.now() - started).toBeLessThan(400);
    expect(out.carrierId).toBe('b');
    expect(out.attempts[0]).toMatchObject({ carrierId: 'a', outcome: 'failed', kind: 'timeout' });
    expect(a.aborted).toBe(1);
  });

  it('never starts an attempt past notAfter', async () => {
    await expect(
      sender.send(message({ notAfter: new Date(Date.now() - 1) })),
    ).rejects.toBeInstanceOf(MessageExpiredError);
    expect(a.calls + b.calls).toBe(0);
  });

  it('cuts the call deadline to the life left and drops the message when it runs out', async () => {
    a.script = hang;
    const started = Date.now();
    const err = await sender
      .send(message({ notAfter: new Date(Date.now() + 150) }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MessageExpiredError);
    expect(Date.now() - started).toBeLessThan(400); // not the 500 ms carrier timeout
    expect(a.aborted).toBe(1);
    expect(b.calls).toBe(0);
  });

  it('moves on when a carrier throttles', async () => {
    a.script = async () => {
      throw CarrierError.throttled('a', 'a: throttled (0x00000058)');
    };
    const out = await sender.send(message());
    expect(out.carrierId).toBe('b');
    expect(out.attempts[0]).toMatchObject({ outcome: 'failed', kind: 'throttled' });
  });

  it('moves on when the send-rate bucket is empty, or waits for a token when no other carrier can take it', async () => {
    build({ a: policy({ ratePerSec: 5, burst: 1 }), b: policy() });
    await sender.send(message());
    const second = await sender.send(message());
    expect(second.attempts.map((x) => [x.carrierId, x.outcome])).toEqual([
      ['a', 'rate_limited'],
      ['b', 'accepted'],
    ]);
    // +44 only routes to a: it waits ~200 ms for a's next token.
    const started = Date.now();
    const third = await sender.send(message({ to: '+447700900123' }));
    expect(third.carrierId).toBe('a');
    expect(third.attempts.map((x) => x.outcome)).toEqual(['rate_limited', 'accepted']); // polled, recorded once
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it('gives up with a retryable error when every carrier failed', async () => {
    a.script = fail(a);
    b.script = fail(b);
    const err = await sender.send(message()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AllCarriersFailedError);
    expect(err).toMatchObject({
      retryable: true,
      attempts: [
        expect.objectContaining({ carrierId: 'a' }),
        expect.objectContaining({ carrierId: 'b' }),
      ],
    });
  });

  it('passes a carrier over when its bulkhead is full', async () => {
    build({ a: policy({ maxConcurrent: 1, maxQueue: 0 }), b: policy() });
    a.script = async () => {
      await sleep(100);
      return a.ok();
    };
    const [first, second] = await Promise.all([sender.send(message()), sender.send(message())]);
    expect(first.carrierId).toBe('a');
    expect(second.attempts.map((x) => [x.carrierId, x.outcome])).toEqual([
      ['a', 'bulkhead_full'],
      ['b', 'accepted'],
    ]);
  });

  it('refuses a message no carrier is configured for', async () => {
    await expect(sender.send(message({ channel: 'voice' }))).rejects.toBeInstanceOf(NoRouteError);
  });

  it('opens a breaker on demand (delivery-rate signal) and reports it', async () => {
    expect(sender.tripBreaker('a', 'delivery rate below 20%')).toBe(true);
    expect(changes).toEqual([
      expect.objectContaining({ carrierId: 'a', to: 'open', reason: 'delivery rate below 20%' }),
    ]);
    expect((await sender.send(message())).carrierId).toBe('b');
    // Already open, or no such carrier: nothing changes, nothing is reported.
    expect(sender.tripBreaker('a', 'again')).toBe(false);
    expect(sender.tripBreaker('nowhere', 'x')).toBe(false);
    expect(changes).toHaveLength(1);
  });

  it('exports outcomes as metrics and a snapshot with latency and error rate', async () => {
    a.script = async (_m, call) => {
      if (call === 1) throw CarrierError.unavailable('a', 'a: HTTP 500');
      await sleep(20);
      return a.ok();
    };
    await sender.send(message());
    await sender.send(message());
    const calls = await registry.getSingleMetric('notifier_carrier_calls_total')!.get();
    const count = (carrier: string, outcome: string) =>
      calls.values.find((v) => v.labels['carrier'] === carrier && v.labels['outcome'] === outcome)
        ?.value;
    expect([count('a', 'unavailable'), count('a', 'accepted'), count('b', 'accepted')]).toEqual([
      1, 1, 1,
    ]);
    const [snapA] = sender.snapshot();
    expect(snapA).toMatchObject({
      id: 'a',
      state: 'closed',
      errorRate: 0.5,
      recentCalls: 2,
      inFlight: 0,
      queued: 0,
    });
    expect(snapA!.latencyP99Ms).toBeGreaterThanOrEqual(15);
  });

  it('shares metrics between senders on one registry', () => {
    expect(() =>
      new FailoverSender({
        carriers: [a],
        policies: { a: policy() },
        routes: [],
        preferences: {},
        registry,
      }).close(),
    ).not.toThrow();
  });

  it('refuses a breaker without a volume threshold', () => {
    expect(() => build({ a: policy({}, { volumeThreshold: 0 }), b: policy() })).toThrow(
      /volumeThreshold/,
    );
  });
});
