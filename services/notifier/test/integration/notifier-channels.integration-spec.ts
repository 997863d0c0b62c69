import { randomUUID } from 'node:crypto';
import { type CarrierSim, DEFAULT_BEHAVIOUR, signCallback } from '@phonegate/carrier-sim';
import { accountCreatedV1, notificationRequestedV1 } from '@phonegate/contracts';
import type { Bus } from '@phonegate/messaging';
import { eventually } from '@phonegate/platform/testing';
import {
  containsCode,
  type MessageJson,
  type InProcessNotifier,
  OPS,
  publish,
} from '../support/harness';
import type { OutcomeListener } from '../support/outcome-listener';
import { SimNotifier } from '../support/sim-notifier';

jest.setTimeout(90_000);

const account = { accountId: randomUUID(), email: 'lena.vogel@example.com' };

/**
 * Every channel over the simulator's real protocols (SMPP, the CPaaS-style HTTP API with
 * signed status callbacks, SMTP), receipts onto the timeline, and no code anywhere it is kept.
 */
describe('notifier: channels, carriers and receipts', () => {
  let s: SimNotifier;
  let sim: CarrierSim;
  let notifier: InProcessNotifier;
  let publisher: Bus;
  let outcomes: OutcomeListener;
  let port: number;
  const codes: string[] = [];

  const code = () => {
    const c = String(800_000 + codes.length * 7);
    codes.push(c);
    return c;
  };
  const request = (over: Record<string, unknown>) => ({
    messageId: randomUUID(),
    priority: 'critical' as const,
    channel: 'sms' as const,
    to: `+1415555${String(3000 + codes.length)}`,
    template: 'otp.sign_in',
    locale: 'en',
    variables: { code: code(), host: 'shop.example.com' },
    notAfter: new Date(Date.now() + 60_000).toISOString(),
    dedupeKey: `channels:${randomUUID()}`,
    origin: { service: 'otp', ref: randomUUID() },
    ...over,
  });
  /** POST a status callback to the notifier as an HTTP carrier would, signed with http-b's token. */
  const callback = (carrier: string, params: Record<string, string>, signature?: string) => {
    const url = `http://127.0.0.1:${port}/v1/carriers/${carrier}/receipts`;
    return fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-sim-signature': signature ?? signCallback(url, params, 'sim-token-b'),
      },
      body: new URLSearchParams(params).toString(),
    });
  };
  const view = async (id: string) =>
    (
      await notifier.app.inject({ method: 'GET', url: `/v1/messages/${id}`, headers: OPS })
    ).json<MessageJson>();

  beforeAll(async () => {
    s = await SimNotifier.start({ outcomes: true });
    ({ sim, notifier, publisher, outcomes, port } = s);
    await publish(publisher, accountCreatedV1, { ...account, locale: 'de' });
  });

  afterAll(async () => {
    await s?.close();
  });

  it('sends a code over SMPP and records the SMPP delivery receipt', async () => {
    const req = request({});
    await publish(publisher, notificationRequestedV1, req);
    const got = await eventually(() => sim.store.list({ to: req.to })[0], 10_000);
    expect(got).toMatchObject({ carrier: 'smpp-a', protocol: 'smpp', segments: 1 });
    expect(got.body.split('\n').pop()).toBe(`@shop.example.com #${req.variables.code}`);
    expect(containsCode(got.body, req.variables.code)).toBe(true); // the check used below does see a code
    await eventually(async () => (await view(req.messageId)).status === 'delivered', 10_000);
    const v = await view(req.messageId);
    expect(v.timeline.map((t: { status: string }) => t.status)).toEqual([
      'queued',
      'sending',
      'sent',
      'delivered',
    ]);
    expect(v).toMatchObject({ carrier: 'smpp-a', segments: 1, to: '+1 ••• ••• ••00' });
    await eventually(() => outcomes.of('notification.delivered.v1', req.messageId).length === 1);
  });

  it('takes signed status callbacks from the HTTP carrier: delivered, and failed with the carrier’s reason', async () => {
    sim.setBehaviour('smpp-a', { down: true });
    try {
      const ok = request({});
      await publish(publisher, notificationRequestedV1, ok);
      await eventually(async () => (await view(ok.messageId)).status === 'delivered', 15_000);
      expect(await view(ok.messageId)).toMatchObject({ carrier: 'http-b' });

      sim.setBehaviour('http-b', { receiptStatus: 'undelivered' });
      const bad = request({});
      await publish(publisher, notificationRequestedV1, bad);
      await eventually(async () => (await view(bad.messageId)).status === 'failed', 15_000);
      const failed = await eventually(
        () => outcomes.of('notification.failed.v1', bad.messageId)[0],
      );
      expect(failed.data).toMatchObject({
        carrier: 'http-b',
        reason: 'undelivered:30003',
        origin: bad.origin,
      });
    } finally {
      sim.setBehaviour('smpp-a', { down: false });
      sim.setBehaviour('http-b', { receiptStatus: 'delivered' });
    }
  });

  it('answers 401 invalid_signature to a callback not signed with the carrier’s token, and the same to an unknown carrier', async () => {
    const params = { AccountSid: 'ACsimb', MessageSid: 'SMnope', MessageStatus: 'delivered' };
    const url = `http://127.0.0.1:${port}/v1/carriers/http-b/receipts`;
    const forged = await callback('http-b', params, signCallback(url, params, 'not-the-token'));
    expect(forged.status).toBe(401);
    const refusal = (await forged.json()) as Record<string, unknown>;
    expect(refusal['code']).toBe('invalid_signature');
    expect((await callback('http-b', params, '')).status).toBe(401);
    // Correctly signed, for a message we never sent: accepted and ignored.
    expect((await callback('http-b', params)).status).toBe(204);
    // A carrier we do not have, even signed with a real carrier's token: the answer of a bad
    // signature, word for word, so that it does not tell which carriers exist (API.md: 204 · 401).
    const other = `http://127.0.0.1:${port}/v1/carriers/nobody/receipts`;
    for (const signature of [signCallback(other, params, 'sim-token-b'), '']) {
      const unknown = await callback('nobody', params, signature);
      expect(unknown.status).toBe(401);
      expect(unknown.headers.get('content-type')).toContain('application/problem+json');
      expect(await unknown.json()).toEqual(refusal);
    }
  });

  it('keeps a message on its way when the HTTP carrier reports a status it does not know: no failure, so no fallback', async () => {
    sim.setBehaviour('smpp-a', { down: true });
    sim.setBehaviour('http-b', { receiptDelayMs: 3_000 });
    try {
      const req = request({});
      await publish(publisher, notificationRequestedV1, req);
      const got = await eventually(() => sim.store.list({ to: req.to })[0], 15_000);
      await eventually(async () => (await view(req.messageId)).status === 'sent', 10_000);
      // Statuses the parser has no word for, and none at all: once each was a final failure.
      for (const status of ['scheduled', 'receiving', '']) {
        const res = await callback('http-b', {
          AccountSid: 'ACsimb',
          MessageSid: got.id,
          MessageStatus: status,
        });
        expect(res.status).toBe(204);
      }
      expect((await view(req.messageId)).status).toBe('sent');
      expect(notifier.logs.text()).toContain('"status":"scheduled"');
      // The carrier's real final word still ends the message.
      await eventually(async () => (await view(req.messageId)).status === 'delivered', 10_000);
      await eventually(() => outcomes.of('notification.delivered.v1', req.messageId).length === 1);
      expect(outcomes.of('notification.failed.v1', req.messageId)).toEqual([]);
    } finally {
      sim.setBehaviour('smpp-a', { down: false });
      sim.setBehaviour('http-b', { receiptDelayMs: DEFAULT_BEHAVIOUR.receiptDelayMs });
    }
  });

  it('sends a security alert by e-mail (SMTP) to the account’s address, and a code by voice', async () => {
    const alert = request({
      channel: 'email',
      to: undefined,
      accountId: account.accountId,
      template: 'security.new_device',
      locale: 'de',
      variables: { device: 'Pixel 9', host: 'shop.example.com' },
      dedupeKey: `alert:${randomUUID()}`,
    });
    delete (alert as { to?: string }).to;
    await publish(publisher, notificationRequestedV1, alert);
    const mail = await eventually(
      () => sim.store.list({ to: account.email, channel: 'email' })[0],
      15_000,
    );
    expect(mail.subject).toBe('shop.example.com: neue Anmeldung bei deinem Konto');
    expect(mail.body).toContain('Pixel 9');
    await eventually(async () => (await view(alert.messageId)).status === 'sent');
    expect((await view(alert.messageId)).to).toBe('l•••@example.com');

    const call = request({ channel: 'voice', to: '+14155554444' });
    await publish(publisher, notificationRequestedV1, call);
    const spoken = await eventually(
      () => sim.store.list({ to: '+14155554444', channel: 'voice' })[0],
      15_000,
    );
    expect(spoken.body).toContain([...String(call.variables.code)].join(', '));
  });

  it('keeps codes out of the message log, the outbox, the logs and the metrics', async () => {
    const dump = JSON.stringify([
      await notifier.dataSource.query('SELECT * FROM messages'),
      await notifier.dataSource.query('SELECT * FROM message_events'),
      await notifier.dataSource.query('SELECT * FROM outbox'),
    ]);
    const logs = notifier.logs.text();
    const metrics = (await notifier.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(codes.length).toBeGreaterThan(4);
    for (const c of codes) {
      expect(containsCode(dump, c)).toBe(false);
      expect(containsCode(logs, c)).toBe(false);
      expect(containsCode(metrics, c)).toBe(false);
    }
    expect(logs).not.toMatch(/\+1415555\d{4}/);
    expect(logs).not.toContain(account.email);
    expect(metrics).toMatch(/notifier_sends_total\{[^}]*carrier="http-b"[^}]*outcome="sent"/);
    expect(metrics).toMatch(/notifier_receipts_total\{[^}]*status="delivered"/);
    expect(outcomes.invalid).toEqual([]);
  });
});
