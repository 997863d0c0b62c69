import { startCarrierSim, type CarrierSim } from '@phonegate/carrier-sim';
import {
  CarrierError,
  FailoverSender,
  SmppCarrier,
  type CarrierReceipt,
  type OutboundMessage,
} from '../../src/carriers';
import { Registry } from 'prom-client';

jest.setTimeout(30_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let n = 0;
function sms(to: string, body: string, over: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    messageId: `msg-${++n}`,
    channel: 'sms',
    to,
    body,
    signal: AbortSignal.timeout(5_000),
    ...over,
  };
}

async function until<T>(fn: () => T | undefined | false, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('condition not met');
    await sleep(20);
  }
}

describe('SMPP carrier against the simulator', () => {
  let sim: CarrierSim;
  const carriers: SmppCarrier[] = [];

  const carrier = (
    systemId = 'smpp-a',
    password = 'sim-a',
    over: Partial<ConstructorParameters<typeof SmppCarrier>[0]> = {},
  ) => {
    const c = new SmppCarrier({
      id: systemId,
      host: '127.0.0.1',
      port: sim.ports.smpp!,
      systemId,
      password,
      sourceAddr: 'Shop',
      reconnectMinMs: 50,
      reconnectMaxMs: 200,
      ...over,
    });
    carriers.push(c);
    return c;
  };

  beforeAll(async () => {
    sim = await startCarrierSim({ httpPort: false, smtpPort: false });
  });
  afterEach(async () => {
    await Promise.all(carriers.splice(0).map((c) => c.close()));
    sim.registry.reset();
    sim.store.clear();
  });
  afterAll(() => sim.stop());

  it('sends an SMS and reports its delivery receipt', async () => {
    const c = carrier();
    const receipts: CarrierReceipt[] = [];
    c.onReceipt((r) => receipts.push(r));
    const accepted = await c.send(
      sms('+14155550123', 'Your code is 123456\n\n@shop.example #123456'),
    );
    expect(accepted).toMatchObject({ carrierId: 'smpp-a', segments: 1 });
    const record = await sim.store.waitFor((m) => m.to === '+14155550123');
    expect(record).toMatchObject({
      id: accepted.providerMessageId,
      from: 'Shop',
      body: 'Your code is 123456\n\n@shop.example #123456',
      dataCoding: 0,
    });
    const receipt = await until(() => receipts[0]);
    expect(receipt).toMatchObject({
      carrierId: 'smpp-a',
      providerMessageId: accepted.providerMessageId,
      messageId: 'msg-1',
      status: 'delivered',
      final: true,
    });
  });

  it('sends a long UCS-2 text as concatenated segments and aggregates their receipts', async () => {
    const c = carrier();
    const receipts: CarrierReceipt[] = [];
    c.onReceipt((r) => receipts.push(r));
    sim.setBehaviour('smpp-a', { receiptStatus: 'undelivered' });
    const body = 'Ваш заказ отправлен. Код для курьера: 4821. '.repeat(4).trim();
    const accepted = await c.send(sms('+447700900123', body));
    expect(accepted.segments).toBe(3);
    const record = await sim.store.waitFor((m) => m.to === '+447700900123');
    expect(record).toMatchObject({
      body,
      segments: 3,
      dataCoding: 8,
      id: accepted.providerMessageId,
    });
    const receipt = await until(() => receipts[0]);
    await sleep(100);
    expect(receipts).toHaveLength(1);
    expect(receipt).toMatchObject({
      providerMessageId: accepted.providerMessageId,
      status: 'undelivered',
      errorCode: 'UNDELIV/001',
    });
  });

  it.each([
    ['after their answers', false],
    ['ahead of their answers', true],
  ])(
    'ends a concatenated SMS whose segments all got the same message_id once every segment’s receipt is in (%s), worst wins',
    async (_when, receiptBeforeResponse) => {
      const c = carrier();
      const receipts: CarrierReceipt[] = [];
      c.onReceipt((r) => receipts.push(r));
      sim.setBehaviour('smpp-a', {
        sameSegmentIds: true,
        receiptBeforeResponse,
        segmentReceiptStatus: { segment: 3, status: 'undelivered' },
      });
      const to = receiptBeforeResponse ? '+447700900201' : '+447700900202';
      const body = 'Ваш заказ отправлен. Код для курьера: 4821. '.repeat(4).trim();
      const message = sms(to, body);
      const accepted = await c.send(message);
      expect(accepted.segments).toBe(3);
      const record = await sim.store.waitFor((m) => m.to === to);
      expect(new Set(record.segmentIds)).toEqual(new Set([accepted.providerMessageId]));
      const receipt = await until(() => receipts.find((r) => r.final));
      await sleep(200);
      expect(receipts.filter((r) => r.final)).toHaveLength(1);
      expect(receipt).toMatchObject({
        providerMessageId: accepted.providerMessageId,
        messageId: message.messageId,
        status: 'undelivered',
        errorCode: 'UNDELIV/001',
      });
    },
  );

  it('reports a receipt it held for an answer still due when it closes, instead of losing it', async () => {
    // Replica 1 sends a message and stops before its receipt; the centre keeps the receipt and
    // hands it to replica 2 when it binds, while replica 2 waits for a (slow) answer of its own.
    const first = carrier();
    sim.setBehaviour('smpp-a', { receiptDelayMs: 300 });
    const accepted = await first.send(sms('+14155550301', 'Your code is 123456'));
    await first.close();
    await sleep(500); // its receipt is due now, and kept for the next bind
    expect(sim.store.get(accepted.providerMessageId)?.status).toBe('accepted');
    sim.setBehaviour('smpp-a', { latencyMs: 5_000 });
    const second = carrier();
    const receipts: CarrierReceipt[] = [];
    second.onReceipt((r) => receipts.push(r));
    const before = sim.registry.get('smpp-a')!.stats.receiptsSent;
    const pending = second
      .send(sms('+14155550302', 'Your code is 654321', { signal: AbortSignal.timeout(10_000) }))
      .catch((e: unknown) => e);
    // The receipt was answered (deliver_sm_resp): the centre will not send it again.
    await until(() => sim.registry.get('smpp-a')!.stats.receiptsSent === before + 1);
    await sleep(50);
    expect(second.status().inFlight).toBe(1);
    expect(receipts).toEqual([]); // held: an answer is due and may name its id
    await second.close();
    expect(await pending).toMatchObject({ kind: 'unavailable' });
    expect(receipts).toEqual([
      expect.objectContaining({
        carrierId: 'smpp-a',
        providerMessageId: accepted.providerMessageId,
        status: 'delivered',
        final: true,
      }),
    ]);
    expect(receipts[0]!.messageId).toBeUndefined();
  });

  it('maps an invalid destination to a recipient error and throttling to a retryable one', async () => {
    const c = carrier();
    await expect(c.send(sms('+99912345678', 'x'))).rejects.toMatchObject({
      kind: 'recipient',
      retryable: false,
      providerCode: '0x0000000b',
    });
    sim.setBehaviour('smpp-a', { throttle: true });
    await expect(c.send(sms('+14155550123', 'x'))).rejects.toMatchObject({
      kind: 'throttled',
      retryable: true,
      providerCode: '0x00000058',
    });
  });

  it('keeps at most `window` submits outstanding and queues the rest', async () => {
    const c = carrier('smpp-a', 'sim-a', { window: 3 });
    sim.setBehaviour('smpp-a', { latencyMs: 60 });
    let maxInFlight = 0;
    const watch = setInterval(() => (maxInFlight = Math.max(maxInFlight, c.status().inFlight)), 5);
    const started = Date.now();
    const sends = Array.from({ length: 9 }, (_, i) => c.send(sms(`+1415555010${i}`, `m${i}`)));
    await Promise.all(sends);
    clearInterval(watch);
    expect(maxInFlight).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(170); // three rounds of ~60 ms
    expect(sim.store.count()).toBe(9);
  });

  it('rebinds after the simulator drops the session and resends what was unacknowledged, losing nothing', async () => {
    const c = carrier('smpp-a', 'sim-a', { window: 5 });
    await c.whenBound();
    sim.setBehaviour('smpp-a', { latencyMs: 150 });
    const numbers = Array.from({ length: 20 }, (_, i) => `+1415555${String(1000 + i)}`);
    const sends = numbers.map((to, i) =>
      c.send(sms(to, `message ${i}`, { signal: AbortSignal.timeout(15_000) })),
    );
    await sleep(80); // five submits on the wire, none answered yet
    expect(c.status().inFlight).toBe(5);
    expect(sim.dropSessions('smpp-a')).toBe(1);
    const accepted = await Promise.all(sends);
    expect(accepted).toHaveLength(20);
    expect(c.status().session).toBe('bound');
    expect(sim.smppSessions('smpp-a')).toBe(1);
    const received = sim.store.list({ limit: 100 });
    expect(received).toHaveLength(20);
    expect(new Set(received.map((m) => m.to))).toEqual(new Set(numbers));
    expect(new Set(received.map((m) => m.id))).toEqual(
      new Set(accepted.map((a) => a.providerMessageId)),
    );
  });

  it('fails fast while the carrier refuses binds, and binds again when it is back', async () => {
    sim.setBehaviour('smpp-c', { down: true });
    const c = carrier('smpp-c', 'sim-c');
    await c.start();
    const err = await c.send(sms('+14155550123', 'x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CarrierError);
    expect(err).toMatchObject({ kind: 'unavailable', retryable: true });
    sim.setBehaviour('smpp-c', { down: false });
    await c.whenBound(3_000);
    await expect(c.send(sms('+14155550123', 'back'))).resolves.toMatchObject({
      carrierId: 'smpp-c',
    });
  });

  it('fails over from a throttling SMSC to the next one through the FailoverSender', async () => {
    const a = carrier();
    const c = carrier('smpp-c', 'sim-c');
    const breaker = {
      volumeThreshold: 5,
      errorThresholdPercentage: 50,
      rollingCountTimeoutMs: 10_000,
      rollingCountBuckets: 10,
      resetTimeoutMs: 1_000,
    };
    const p = {
      timeoutMs: 2_000,
      ratePerSec: 1_000,
      maxConcurrent: 10,
      maxQueue: 10,
      queueWaitMs: 100,
      breaker,
    };
    const sender = new FailoverSender({
      carriers: [a, c],
      policies: { 'smpp-a': p, 'smpp-c': p },
      routes: [
        { carrierId: 'smpp-a', channels: ['sms'], countries: ['*'] },
        { carrierId: 'smpp-c', channels: ['sms'], countries: ['*'] },
      ],
      preferences: { sms: ['smpp-a', 'smpp-c'] },
      registry: new Registry(),
    });
    try {
      sim.setBehaviour('smpp-a', { throttle: true });
      const out = await sender.send(sms('+14155550123', 'Your code is 123456'));
      expect(out.carrierId).toBe('smpp-c');
      expect(out.attempts.map((x) => [x.carrierId, x.outcome, x.kind])).toEqual([
        ['smpp-a', 'failed', 'throttled'],
        ['smpp-c', 'accepted', undefined],
      ]);
      expect(sim.store.list({ to: '+14155550123' }).map((m) => m.carrier)).toEqual(['smpp-c']);
    } finally {
      sender.close();
    }
  });
});
