/**
 * The delivery story over HTTP with real Redis, RabbitMQ, PostgreSQL and the
 * notifier sending through the carrier simulator: every service a separate
 * process behind the one-origin gateway. Codes are read where the customer
 * reads them (the phone and the mailbox at the simulator, and the storefront
 * app), the handoff event where a downstream system would (a queue of our own
 * in the stack's vhost).
 */
import { randomUUID } from 'node:crypto';
import { startStack, type Stack } from '../src';
import {
  BusTap,
  codeOf,
  fictionalNumber,
  gatewayClient,
  leaks,
  readLogs,
  SimInbox,
  type SimMessage,
} from './support/customer';

jest.setTimeout(60_000);

interface MessageView {
  messageId: string;
  status: string;
  channel: string;
  to: string;
  carrier: string | null;
  body: string;
  timeline: { status: string; at: string; carrier?: string }[];
}

describe('delivery story through the gateway (whole stack as processes)', () => {
  let stack: Stack;
  let call: ReturnType<typeof gatewayClient>;
  let inbox: SimInbox;
  let tap: BusTap;

  const run = randomUUID().slice(0, 8);
  const customer = {
    accountId: `acct-${run}`,
    phone: fictionalNumber('646'),
    email: `buyer.${run}@example.com`,
  };
  const courierId = `courier-${run}`;
  const shipmentId = `shp-${run}-1`;
  const orderId = `ord-${run}-1`;
  const now = Date.now();
  const window = {
    start: new Date(now - 10 * 60_000).toISOString(),
    end: new Date(now + 2 * 3_600_000).toISOString(),
  };

  const sentCodes: string[] = [];
  const deviceSecrets: string[] = [];
  let deviceId = '';
  let deviceSecret = '';
  let code = '';

  const wrongCodeFor = (c: string) =>
    String((Number(c) + 1) % 10 ** c.length).padStart(c.length, '0');
  const emailCodeOf = (m: SimMessage) => /delivery code is (\d{4,6})\b/.exec(m.body)?.[1];

  beforeAll(async () => {
    stack = await startStack();
    call = gatewayClient(stack, 'e2e-delivery');
    inbox = new SimInbox(stack.sim.controlUrl);
    tap = await BusTap.open(stack.amqpUrl, ['delivery.handoff.#', 'notification.requested.v1.#']);
  }, 120_000);

  afterAll(async () => {
    await tap?.close();
    await stack?.stop();
  }, 60_000);

  it('ops issues a courier device secret (a storefront key may not)', async () => {
    const refused = await call('POST', `/v1/couriers/${courierId}/devices`, {
      key: stack.keys.storefront,
      body: { name: 'Scanner 1' },
    });
    expect(refused.status).toBe(403);

    const issued = await call('POST', `/v1/couriers/${courierId}/devices`, {
      key: stack.keys.ops,
      body: { name: 'Scanner 1' },
    });
    expect(issued.status).toBe(201);
    expect(issued.body).toMatchObject({
      deviceId: expect.any(String),
      courierId,
      secret: expect.stringMatching(/^pgd_/),
    });
    deviceId = issued.body['deviceId'] as string;
    deviceSecret = issued.body['secret'] as string;
    deviceSecrets.push(deviceSecret);
  });

  it('logistics marks the shipment out for delivery: the code reaches the phone by SMS and the mailbox by e-mail', async () => {
    const body = {
      orderId,
      accountId: customer.accountId,
      contact: { phone: customer.phone.e164, email: customer.email },
      courierId,
      window,
    };
    expect(
      (
        await call('POST', `/v1/shipments/${shipmentId}/out-for-delivery`, {
          key: stack.keys.storefront,
          body,
        })
      ).status,
    ).toBe(403);

    const out = await call('POST', `/v1/shipments/${shipmentId}/out-for-delivery`, {
      key: stack.keys.logistics,
      body,
    });
    expect(out.status).toBe(201);
    expect(out.body).toMatchObject({
      shipmentId,
      status: 'awaiting_handoff',
      expiresAt: expect.any(String),
    });
    expect(Object.keys(out.body)).not.toContain('code');

    const sms = await inbox.next(customer.phone.e164, 'sms');
    expect(['smpp-a', 'http-b']).toContain(sms.carrier);
    expect(sms.body).toContain(orderId);
    code = codeOf(sms);
    sentCodes.push(code);
    expect(JSON.stringify(out.body)).not.toContain(code);

    const mail = await inbox.next(customer.email, 'email', (m) => emailCodeOf(m) !== undefined);
    expect(mail.carrier).toBe('smtp-main');
    expect(emailCodeOf(mail)).toBe(code);
  });

  it("the storefront's app shows the same code, to the shipment's own account only", async () => {
    const shown = await call(
      'GET',
      `/v1/shipments/${shipmentId}/code?accountId=${customer.accountId}`,
      { key: stack.keys.storefront },
    );
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ code, expiresAt: expect.any(String) });

    const other = await call(
      'GET',
      `/v1/shipments/${shipmentId}/code?accountId=acct-someone-else`,
      { key: stack.keys.storefront },
    );
    expect(other.status).toBe(403);
    expect(
      (
        await call('GET', `/v1/shipments/${shipmentId}/code?accountId=${customer.accountId}`, {
          key: stack.keys.logistics,
        })
      ).status,
    ).toBe(403);
  });

  it("another courier's device is not assigned; a wrong code is counted", async () => {
    const other = await call('POST', `/v1/couriers/courier-other-${run}/devices`, {
      key: stack.keys.ops,
      body: {},
    });
    expect(other.status).toBe(201);
    deviceSecrets.push(other.body['secret'] as string);
    const notAssigned = await call('POST', `/v1/shipments/${shipmentId}/handoff`, {
      key: other.body['secret'] as string,
      body: { code, at: new Date().toISOString() },
    });
    expect(notAssigned.status).toBe(403);
    expect(notAssigned.body['code']).toBe('not_assigned');

    const wrong = await call('POST', `/v1/shipments/${shipmentId}/handoff`, {
      key: deviceSecret,
      body: { code: wrongCodeFor(code), at: new Date().toISOString() },
    });
    expect(wrong.status).toBe(422);
    expect(wrong.body).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 4 });
  });

  it('the courier confirms the handoff (200); delivery.handoff.confirmed.v1 is published; a second confirm is 409', async () => {
    const at = new Date().toISOString();
    const idempotencyKey = randomUUID();
    const confirmed = await call('POST', `/v1/shipments/${shipmentId}/handoff`, {
      key: deviceSecret,
      headers: { 'idempotency-key': idempotencyKey },
      body: { code, at, location: { lat: 40.7128, lng: -74.006 } },
    });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body).toMatchObject({ status: 'handed_off', at: expect.any(String) });

    const event = await tap.waitFor(
      (e) =>
        e.routingKey === 'delivery.handoff.confirmed.v1' &&
        e.envelope.data['shipmentId'] === shipmentId,
    );
    expect(event.envelope.type).toBe('delivery.handoff.confirmed.v1');
    expect(event.envelope.data).toMatchObject({
      shipmentId,
      courierId,
      deviceId,
      location: { lat: 40.7128, lng: -74.006 },
    });
    expect(JSON.stringify(event.envelope)).not.toContain(code);

    const again = await call('POST', `/v1/shipments/${shipmentId}/handoff`, {
      key: deviceSecret,
      headers: { 'idempotency-key': randomUUID() },
      body: { code, at },
    });
    expect(again.status).toBe(409);
    expect(again.body['code']).toBe('already_handed_off');

    // The same device retrying with the same Idempotency-Key (a lost answer) gets the first 200 again.
    const replay = await call('POST', `/v1/shipments/${shipmentId}/handoff`, {
      key: deviceSecret,
      headers: { 'idempotency-key': idempotencyKey },
      body: { code, at, location: { lat: 40.7128, lng: -74.006 } },
    });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(confirmed.body);

    // The code is gone from the app.
    expect(
      (
        await call('GET', `/v1/shipments/${shipmentId}/code?accountId=${customer.accountId}`, {
          key: stack.keys.storefront,
        })
      ).status,
    ).toBe(404);
  });

  it('the handoff e-mail reaches the mailbox', async () => {
    const mail = await inbox.next(customer.email, 'email', (m) =>
      /was delivered/i.test(m.subject ?? ''),
    );
    expect(mail.carrier).toBe('smtp-main');
    expect(mail.body).toContain(orderId);
    expect(mail.body).not.toContain(code);
  });

  it('with the SMPP carrier down, the next code goes out over the HTTP carrier, and support sees it delivered there', async () => {
    const down = await fetch(`${stack.sim.controlUrl}/_sim/carriers/smpp-a`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ down: true }),
    });
    expect(down.status).toBe(200);
    try {
      const second = `shp-${run}-2`;
      const out = await call('POST', `/v1/shipments/${second}/out-for-delivery`, {
        key: stack.keys.logistics,
        body: {
          orderId: `ord-${run}-2`,
          accountId: customer.accountId,
          contact: { phone: customer.phone.e164 },
          courierId,
          window,
        },
      });
      expect(out.status).toBe(201);
      const sms = await inbox.next(customer.phone.e164, 'sms', () => true, 30_000);
      expect(sms.carrier).toBe('http-b');
      const secondCode = codeOf(sms);
      sentCodes.push(secondCode);

      const requested = await tap.waitFor(
        (e) =>
          e.routingKey.startsWith('notification.requested.v1') &&
          e.envelope.data['channel'] === 'sms' &&
          (e.envelope.data['origin'] as { ref?: string } | undefined)?.ref === second,
      );
      const messageId = requested.envelope.data['messageId'] as string;
      const view = await eventually(async () => {
        const got = await call<MessageView>('GET', `/v1/messages/${messageId}`, {
          key: stack.keys.ops,
        });
        return got.status === 200 && got.body.timeline.some((t) => t.status === 'delivered')
          ? got.body
          : undefined;
      }, 20_000);
      expect(view).toMatchObject({ status: 'delivered', channel: 'sms', carrier: 'http-b' });
      const statuses = view.timeline.map((t) => t.status);
      expect(statuses.indexOf('sent')).toBeGreaterThan(statuses.indexOf('queued'));
      expect(statuses.indexOf('delivered')).toBeGreaterThan(statuses.indexOf('sent'));
      expect(view.to).toMatch(new RegExp(`${customer.phone.e164.slice(-2)}$`));
      expect(JSON.stringify(view)).not.toContain(secondCode);
      expect(JSON.stringify(view)).not.toContain(customer.phone.national);
    } finally {
      await fetch(`${stack.sim.controlUrl}/_sim/carriers/smpp-a`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ down: false }),
      });
    }
  });

  it('no process logged a full number, a code or a device secret', async () => {
    const logs = await readLogs(stack);
    expect(Object.keys(logs).sort()).toEqual([
      'carrier-sim',
      'delivery-otp',
      'identity',
      'notifier',
      'otp',
    ]);
    expect(sentCodes).toHaveLength(2);
    const secrets = {
      phone: [customer.phone.e164, customer.phone.national],
      code: sentCodes,
      deviceSecret: deviceSecrets,
    };
    const found = Object.entries(logs).flatMap(([name, text]) =>
      leaks(text, secrets).map((l) => `${name}: ${l}`),
    );
    expect(found).toEqual([]);
  });
});

async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
