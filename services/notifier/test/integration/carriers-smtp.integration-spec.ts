import { startCarrierSim, type CarrierSim } from '@phonegate/carrier-sim';
import { SmtpCarrier, type OutboundMessage } from '../../src/carriers';

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

  it('answers a timeout at once when aborted', async () => {
    sim.setBehaviour('smtp-main', { latencyMs: 2_000 });
    const started = Date.now();
    await expect(
      carrier.send(mail('slow@example.com', { signal: AbortSignal.timeout(150) })),
    ).rejects.toMatchObject({ kind: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
