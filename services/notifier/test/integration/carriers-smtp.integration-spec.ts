import { startCarrierSim, type CarrierSim } from '@phonegate/carrier-sim';
import { Registry } from 'prom-client';
import {
  CarrierError,
  CarrierStack,
  type LateAcceptance,
  parseCarriersConfig,
  SmtpCarrier,
  type OutboundMessage,
} from '../../src/carriers';

jest.setTimeout(30_000);

let n = 0;
function mail(to: string, over: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    messageId: `mail-${++n}`,
    channel: 'email',
    to,
    subject: 'Votre commande n° 42 est partie',
    body: 'Bonjour,\n\nvotre commande a été expédiée. Code de remise : 4821.\n\nÀ bientôt',
    html: '<p>Bonjour,</p><p>votre commande a été expédiée.</p>',
    signal: AbortSignal.timeout(5_000),
    ...over,
  };
}

describe('SMTP carrier against the simulator', () => {
  let sim: CarrierSim;
  let carrier: SmtpCarrier;

  beforeAll(async () => {
    sim = await startCarrierSim({ smppPort: false, httpPort: false });
    carrier = new SmtpCarrier({
      id: 'smtp-main',
      host: '127.0.0.1',
      port: sim.ports.smtp!,
      secure: false,
      requireTls: false,
      user: 'sim',
      password: 'sim-smtp',
      from: 'Shop <no-reply@shop.example>',
      maxConnections: 2,
      connectionTimeoutMs: 2_000,
    });
  });
  afterEach(() => {
    sim.registry.reset();
    sim.store.clear();
  });
  afterAll(async () => {
    await carrier.close();
    await sim.stop();
  });

  it('sends a mail the simulator records with subject, text and html', async () => {
    const accepted = await carrier.send(mail('ann@example.com'));
    const record = await sim.store.waitFor((m) => m.to === 'ann@example.com');
    expect(record).toMatchObject({
      id: accepted.providerMessageId,
      channel: 'email',
      from: 'no-reply@shop.example',
      subject: 'Votre commande n° 42 est partie',
      body: 'Bonjour,\n\nvotre commande a été expédiée. Code de remise : 4821.\n\nÀ bientôt',
      html: '<p>Bonjour,</p><p>votre commande a été expédiée.</p>',
      carrier: 'smtp-main',
    });
  });

  it('sends several mails over the pooled connections', async () => {
    const sent = await Promise.all(
      ['a', 'b', 'c', 'd'].map((x) => carrier.send(mail(`${x}@example.com`))),
    );
    expect(new Set(sent.map((s) => s.providerMessageId)).size).toBe(4);
    expect(sim.store.count()).toBe(4);
  });

  it('maps a refused recipient to a recipient error and a throttled or failing server to retryable ones', async () => {
    await expect(carrier.send(mail('bob@invalid.test'))).rejects.toMatchObject({
      kind: 'recipient',
      retryable: false,
      providerCode: '550',
    });
    sim.setBehaviour('smtp-main', { throttle: true });
    await expect(carrier.send(mail('bob@example.com'))).rejects.toMatchObject({
      kind: 'throttled',
      retryable: true,
      providerCode: '452',
    });
    sim.setBehaviour('smtp-main', { throttle: false, errorRate: 1 });
    await expect(carrier.send(mail('bob@example.com'))).rejects.toMatchObject({
      retryable: true,
      providerCode: '451',
    });
    expect(sim.store.count()).toBe(0);
  });

  it('maps the 501 the server answers to an over-long or malformed address at RCPT to a recipient error', async () => {
    // smtp-server refuses an address over 253 octets, or with ".." in the local part, with 501.
    for (const to of [`${'x'.repeat(300)}@example.com`, 'ann..lee@example.com']) {
      const error = await carrier.send(mail(to)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CarrierError);
      expect(error).toMatchObject({ kind: 'recipient', retryable: false, providerCode: '501' });
      expect((error as CarrierError).message).toBe(
        'smtp-main: SMTP 501 at RCPT: recipient address refused',
      );
    }
    expect(sim.store.count()).toBe(0);
  });

  it('B2: a refused address fails the message at once, is not tried elsewhere and does not count against the breaker', async () => {
    const smtp = {
      id: 'smtp-main',
      type: 'smtp',
      host: '127.0.0.1',
      port: sim.ports.smtp!,
      requireTls: false,
      user: 'sim',
      password: 'sim-smtp',
      from: 'Shop <no-reply@shop.example>',
      timeoutMs: 2_000,
      // One counted failure in two calls would open it.
      breaker: { volumeThreshold: 2, errorThresholdPercentage: 40, resetTimeoutMs: '30s' },
    };
    const stack = new CarrierStack({
      config: parseCarriersConfig({
        carriers: JSON.stringify([smtp, { id: 'inbox', type: 'dev-inbox', channels: ['email'] }]),
        email: 'smtp-main,inbox',
      }),
      registry: new Registry(),
    });
    try {
      await stack.start();
      for (let i = 0; i < 4; i++) {
        const error = await stack.sender
          .send(mail(`${'y'.repeat(300)}${i}@example.com`))
          .catch((e: unknown) => e);
        expect(error).toMatchObject({ kind: 'recipient', retryable: false, providerCode: '501' });
        expect((error as CarrierError).attempts?.map((a) => `${a.carrierId}:${a.outcome}`)).toEqual(
          ['smtp-main:recipient'],
        );
      }
      const snapshot = stack.sender.snapshot().find((c) => c.id === 'smtp-main')!;
      expect(snapshot).toMatchObject({ state: 'closed', errorRate: 0 });
      // A good address still goes out through the same carrier.
      const ok = await stack.sender.send(mail('dan@example.com'));
      expect(ok.carrierId).toBe('smtp-main');
      expect(sim.store.count()).toBe(1);
    } finally {
      await stack.close();
    }
  });

  it('answers a timeout at once when aborted', async () => {
    sim.setBehaviour('smtp-main', { latencyMs: 2_000 });
    const started = Date.now();
    await expect(
      carrier.send(mail('slow@example.com', { signal: AbortSignal.timeout(150) })),
    ).rejects.toMatchObject({ kind: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('reports a mail the server still takes after the send was aborted as a late acceptance', async () => {
    const late: LateAcceptance[] = [];
    // (The mail of the test before, aborted too, may be reported meanwhile: only this one counts.)
    carrier.onLateAcceptance((l) => l.messageId === 'mail-late' && late.push(l));
    sim.setBehaviour('smtp-main', { latencyMs: 600 });
    await expect(
      carrier.send(
        mail('late@example.com', { messageId: 'mail-late', signal: AbortSignal.timeout(100) }),
      ),
    ).rejects.toMatchObject({ kind: 'timeout' });
    // nodemailer cannot take it back: the server records it once its latency is over.
    const record = await sim.store.waitFor((m) => m.to === 'late@example.com', 5_000);
    for (let i = 0; i < 100 && !late.length; i++) await new Promise((r) => setTimeout(r, 20));
    expect(late).toEqual([
      {
        carrierId: 'smtp-main',
        messageId: 'mail-late',
        providerMessageId: record.id.replace(/^<|>$/g, ''),
        at: expect.any(Date),
        cancelled: false,
      },
    ]);
  });
});
