import { randomUUID } from 'node:crypto';
import {
  accountCreatedV1,
  notificationRequestedV1,
  orderStatusChangedV1,
  phonePrimaryChangedV1,
  phoneRemovedV1,
  phoneVerifiedV1,
} from '@phonegate/contracts';
import type { Bus } from '@phonegate/messaging';
import { eventually } from '@phonegate/platform/testing';
import { connect } from 'amqplib';
import {
  containsCode,
  createTestInfra,
  type MessageJson,
  type InProcessNotifier,
  OPS,
  publish,
  silentLogger,
  startNotifier,
  startPublisher,
  STOREFRONT,
  TEST_API_KEYS,
  type TestInfra,
} from '../support/harness';
import { OutcomeListener } from '../support/outcome-listener';
import { ScriptedGateway } from '../support/scripted-gateway';

jest.setTimeout(60_000);

const CODE = '739251';
const ana = {
  accountId: randomUUID(),
  email: 'ana@example.com',
  phoneId: randomUUID(),
  e164: '+14155550123',
};
const ben = {
  accountId: randomUUID(),
  email: 'ben@example.com',
  phoneId: randomUUID(),
  e164: '+14155550188',
};

describe('notifier: message log, API and bus handling', () => {
  let infra: TestInfra;
  let notifier: InProcessNotifier;
  let carriers: ScriptedGateway;
  let publisher: Bus;
  let outcomes: OutcomeListener;

  const inject = (
    method: 'GET' | 'POST' | 'PUT',
    url: string,
    headers: Record<string, string>,
    payload?: unknown,
  ) =>
    notifier.app.inject({
      method,
      url,
      headers,
      ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
    });
  const messageOf = async (id: string) =>
    (await inject('GET', `/v1/messages/${id}`, OPS)).json<MessageJson>();
  const request = (
    over: Partial<Parameters<typeof notificationRequestedV1.schema.parse>[0]> = {},
  ) => ({
    messageId: randomUUID(),
    priority: 'critical' as const,
    channel: 'sms' as const,
    to: '+14155550999',
    template: 'otp.sign_in',
    locale: 'en',
    variables: { code: CODE, host: 'shop.example.com' },
    notAfter: new Date(Date.now() + 60_000).toISOString(),
    dedupeKey: `otp:${randomUUID()}:1`,
    origin: { service: 'otp', ref: randomUUID() },
    ...over,
  });

  beforeAll(async () => {
    infra = await createTestInfra();
    carriers = new ScriptedGateway();
    notifier = await startNotifier(infra, () => carriers, {
      API_KEYS: `${TEST_API_KEYS},shop@shop-old-key:storefront,shop@shop-new-key:storefront`,
      NOTIFIER_RETRY_DELAYS: '100ms',
      NOTIFIER_OUTBOX_POLL_INTERVAL: '100ms',
    });
    publisher = await startPublisher(infra, silentLogger());
    outcomes = await OutcomeListener.start(infra.vhost.url);
    for (const who of [ana, ben]) {
      await publish(publisher, accountCreatedV1, {
        accountId: who.accountId,
        email: who.email,
        locale: who === ben ? 'de' : 'en',
      });
      await publish(publisher, phoneVerifiedV1, {
        accountId: who.accountId,
        phoneId: who.phoneId,
        e164: who.e164,
        primary: true,
      });
    }
    await eventually(
      async () =>
        (
          await inject('POST', '/v1/notifications', STOREFRONT, {
            accountId: ben.accountId,
            channel: 'sms',
            template: 'order.status_changed.shipped',
            variables: { orderId: 'warmup' },
          })
        ).statusCode === 202,
      10_000,
    );
  });

  afterAll(async () => {
    await outcomes?.stop();
    await publisher?.close();
    await notifier?.close();
    await infra?.drop();
  });

  it('sends an order update to the account’s primary verified number and answers its timeline, masked', async () => {
    const res = await inject('POST', '/v1/notifications', STOREFRONT, {
      accountId: ana.accountId,
      channel: 'sms',
      template: 'order.status_changed.shipped',
      variables: { orderId: 'ord_77' },
    });
    expect(res.statusCode).toBe(202);
    const { messageId } = res.json();
    await eventually(async () => (await messageOf(messageId)).status === 'sent');
    const sent = carriers.sent.find((m) => m.messageId === messageId)!;
    expect(sent.to).toBe(ana.e164);
    expect(sent.text).toBe('shop.example.com: your order ord_77 has shipped.');
    const view = await messageOf(messageId);
    expect(view).toMatchObject({
      to: '+1 ••• ••• ••23',
      status: 'sent',
      carrier: 'scripted',
      attempts: 1,
      segments: 1,
      priority: 'standard',
    });
    expect(view.timeline.map((t: { status: string }) => t.status)).toEqual([
      'queued',
      'sending',
      'sent',
    ]);
    expect(JSON.stringify(view)).not.toContain('4155550123');
    await eventually(() => outcomes.of('notification.sent.v1', messageId).length === 1);
  });

  it('answers a retry sent with a rotated key of the same client (Idempotency-Key) with the first message, sending once', async () => {
    const idem = { 'idempotency-key': `order-${randomUUID()}` };
    const orderId = `ord_rot_${randomUUID().slice(0, 8)}`;
    const body = {
      accountId: ana.accountId,
      channel: 'sms',
      template: 'order.status_changed.shipped',
      variables: { orderId },
    };
    const first = await inject(
      'POST',
      '/v1/notifications',
      { authorization: 'Bearer shop-old-key', ...idem },
      body,
    );
    expect(first.statusCode).toBe(202);
    const retried = await inject(
      'POST',
      '/v1/notifications',
      { authorization: 'Bearer shop-new-key', ...idem },
      body,
    );
    expect(retried.statusCode).toBe(202);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.json()).toEqual(first.json());
    const { messageId } = first.json<{ messageId: string }>();
    await eventually(async () => (await messageOf(messageId)).status === 'sent');
    expect(carriers.sent.filter((m) => m.text.includes(orderId))).toHaveLength(1);
  });

  it('keeps code, security-alert and handoff-code templates and the critical lane to the platform: 422 over HTTP, nothing queued', async () => {
    const before = carriers.sent.length;
    for (const template of ['otp.sign_in', 'otp.verification', 'security.password_changed', 'delivery.handoff_code']) {
      const res = await inject('POST', '/v1/notifications', STOREFRONT, {
        accountId: ana.accountId,
        channel: 'sms',
        template,
        variables: { code: '123456', host: 'shop.example.com', orderId: 'o1' },
      });
      expect({ template, status: res.statusCode, code: res.json().code }).toEqual({
        template,
        status: 422,
        code: 'unknown_template',
      });
    }
    const critical = await inject('POST', '/v1/notifications', STOREFRONT, {
      accountId: ana.accountId,
      channel: 'sms',
      template: 'order.status_changed.shipped',
      variables: { orderId: 'ord_crit' },
      priority: 'critical',
    });
    expect(critical.statusCode).toBe(422);
    expect(critical.json()).toMatchObject({ code: 'validation_failed', errors: [expect.objectContaining({ field: 'priority' })] });
    await new Promise((r) => setTimeout(r, 200));
    expect(carriers.sent.length).toBe(before);
  });

  it('refuses an unknown template with 422 unknown_template', async () => {
    const res = await inject('POST', '/v1/notifications', STOREFRONT, {
      accountId: ana.accountId,
      channel: 'sms',
      template: 'promo.nope',
      variables: {},
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().code).toBe('unknown_template');
  });

  it('answers 422 validation_failed naming accountId when it is not a UUID, and writes nothing', async () => {
    const mark = `ord_bad_${randomUUID().slice(0, 8)}`;
    const bodies = [
      // Was a 500: the body passed, then notification.requested.v1 refused the id.
      {
        to: 'someone@example.com',
        accountId: 'acct_42',
        channel: 'email',
        template: 'security.new_device',
        variables: { device: mark },
      },
      // Was 422 destination_refused, as if the account had no number.
      {
        accountId: 'not-a-uuid',
        channel: 'sms',
        template: 'order.status_changed.shipped',
        variables: { orderId: mark },
      },
    ];
    for (const body of bodies) {
      const res = await inject('POST', '/v1/notifications', STOREFRONT, body);
      expect(res.statusCode).toBe(422);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json()).toMatchObject({
        status: 422,
        code: 'validation_failed',
        errors: [expect.objectContaining({ field: 'accountId' })],
      });
    }
    const written = JSON.stringify([
      await notifier.dataSource.query('SELECT * FROM messages'),
      await notifier.dataSource.query('SELECT * FROM outbox'),
    ]);
    expect(written).not.toContain(mark);
  });

  it('refuses order updates to an unverified number, and to an owner who opted out', async () => {
    const stranger = await inject('POST', '/v1/notifications', STOREFRONT, {
      to: '+14155550777',
      channel: 'sms',
      template: 'order.status_changed.shipped',
      variables: { orderId: 'o1' },
    });
    expect(stranger.statusCode).toBe(422);
    expect(stranger.json().code).toBe('destination_refused');

    const verified = await inject('POST', '/v1/notifications', STOREFRONT, {
      to: ben.e164,
      channel: 'sms',
      template: 'order.status_changed.packed',
      variables: { orderId: 'o2' },
    });
    expect(verified.statusCode).toBe(202);

    expect(
      (
        await inject('PUT', `/v1/accounts/${ben.accountId}/notification-preferences`, OPS, {
          orderUpdates: false,
        })
      ).statusCode,
    ).toBe(403);
    const off = await inject(
      'PUT',
      `/v1/accounts/${ben.accountId}/notification-preferences`,
      STOREFRONT,
      { orderUpdates: false },
    );
    expect(off.statusCode).toBe(200);
    expect(off.json()).toEqual({ accountId: ben.accountId, orderUpdates: false });
    const refused = await inject('POST', '/v1/notifications', STOREFRONT, {
      to: ben.e164,
      channel: 'sms',
      template: 'order.status_changed.packed',
      variables: { orderId: 'o3' },
    });
    expect(refused.statusCode).toBe(422);
    expect(refused.json()).toMatchObject({ code: 'destination_refused', reason: 'opted_out' });
    await inject('PUT', `/v1/accounts/${ben.accountId}/notification-preferences`, STOREFRONT, {
      orderUpdates: true,
    });
    // An id that is not an account's (not a UUID): 404, and nothing stored.
    const bogus = await inject('PUT', '/v1/accounts/not-a-uuid/notification-preferences', STOREFRONT, {
      orderUpdates: false,
    });
    expect(bogus.statusCode).toBe(404);
    expect(bogus.json()).toMatchObject({ code: 'not_found' });
    expect(
      await notifier.dataSource.query("SELECT 1 FROM contact_accounts WHERE account_id = 'not-a-uuid'"),
    ).toEqual([]);
  });

  it('turns order.status_changed.v1 into one SMS per order and status, and drops it for an owner who opted out', async () => {
    const event = {
      orderId: `ord_${Date.now()}`,
      accountId: ben.accountId,
      status: 'out_for_delivery' as const,
      locale: 'de',
      priority: 'standard' as const,
    };
    await publish(publisher, orderStatusChangedV1, event);
    await publish(publisher, orderStatusChangedV1, event); // another event id, same order and status
    await eventually(() => carriers.sent.some((m) => m.text.includes(event.orderId)));
    await new Promise((r) => setTimeout(r, 500));
    const mine = carriers.sent.filter((m) => m.text.includes(event.orderId));
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      to: ben.e164,
      text: `shop.example.com: Deine Bestellung ${event.orderId} wird heute zugestellt.`,
      priority: 'standard',
    });

    await inject('PUT', `/v1/accounts/${ana.accountId}/notification-preferences`, STOREFRONT, {
      orderUpdates: false,
    });
    const quiet = {
      ...event,
      orderId: `ord_q_${Date.now()}`,
      accountId: ana.accountId,
      status: 'delivered' as const,
      priority: 'bulk' as const,
    };
    await publish(publisher, orderStatusChangedV1, quiet);
    await eventually(() =>
      outcomes.events.some(
        (e) =>
          e.type === 'notification.dropped.v1' &&
          (e.data as { origin?: { ref?: string } }).origin?.ref === quiet.orderId,
      ),
    );
    const dropped = outcomes.events.find(
      (e) => (e.data as { origin?: { ref?: string } }).origin?.ref === quiet.orderId,
    )!;
    expect(dropped.data).toMatchObject({ reason: 'opted_out', carrier: null, attempts: 0 });
    expect(carriers.sent.some((m) => m.text.includes(quiet.orderId))).toBe(false);
    await inject('PUT', `/v1/accounts/${ana.accountId}/notification-preferences`, STOREFRONT, {
      orderUpdates: true,
    });
  });

  it('follows primary changes and removals of numbers', async () => {
    const second = { phoneId: randomUUID(), e164: '+14155550155' };
    await publish(publisher, phoneVerifiedV1, {
      accountId: ana.accountId,
      phoneId: second.phoneId,
      e164: second.e164,
      primary: false,
    });
    await publish(publisher, phonePrimaryChangedV1, {
      accountId: ana.accountId,
      phoneId: second.phoneId,
      e164: second.e164,
      primary: true,
    });
    // The number an order update for ana goes to now (a message resolved just before a change may be refused after it).
    const sentTo = async () => {
      const res = await inject('POST', '/v1/notifications', STOREFRONT, {
        accountId: ana.accountId,
        channel: 'sms',
        template: 'order.status_changed.confirmed',
        variables: { orderId: `p_${randomUUID().slice(0, 6)}` },
      });
      const id = res.json().messageId as string;
      const status = await eventually(async () => {
        const s = (await messageOf(id)).status;
        return ['sent', 'dropped'].includes(s) ? s : undefined;
      });
      return status === 'sent' ? carriers.sent.find((m) => m.messageId === id)?.to : undefined;
    };
    await eventually(async () => (await sentTo()) === second.e164, 10_000);
    await publish(publisher, phoneRemovedV1, {
      accountId: ana.accountId,
      phoneId: second.phoneId,
      e164: second.e164,
      primary: true,
      reason: 'deregistered',
    });
    await eventually(async () => (await sentTo()) === ana.e164, 10_000);
  });

  it('sends a code message once although the event arrives three times, and keeps the code out of the log', async () => {
    const req = request();
    for (let i = 0; i < 3; i++)
      await publish(publisher, notificationRequestedV1, req, { id: `evt-${req.messageId}` });
    await publish(publisher, notificationRequestedV1, req); // a fresh event id, the same message
    await eventually(async () => (await messageOf(req.messageId)).status === 'sent');
    await new Promise((r) => setTimeout(r, 500));
    const mine = carriers.sent.filter((m) => m.messageId === req.messageId);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.text.split('\n').pop()).toBe(`@shop.example.com #${CODE}`);
    const view = await messageOf(req.messageId);
    expect(view.body).toContain('@shop.example.com #••••••');
    expect(JSON.stringify(view)).not.toContain(CODE);
    const sent = await eventually(() => outcomes.of('notification.sent.v1', req.messageId)[0]);
    expect(sent.data).toMatchObject({ carrier: 'scripted', attempts: 1, origin: req.origin });
  });

  it('keeps the report link’s token out of the message log, GET /v1/messages/:id and the logs', async () => {
    const token = `k1.${randomUUID().replace(/-/g, '')}`;
    const reportUrl = `https://shop.example.com/v1/verifications/${randomUUID()}/report?t=${token}`;
    const viaBus = request({ variables: { code: CODE, host: 'shop.example.com', reportUrl } });
    await publish(publisher, notificationRequestedV1, viaBus);
    const byEmail = request({
      channel: 'email',
      to: undefined,
      accountId: ana.accountId,
      template: 'otp.verification',
      variables: { code: CODE, reportUrl },
    });
    await publish(publisher, notificationRequestedV1, byEmail);
    const ids = [viaBus.messageId, byEmail.messageId];
    for (const id of ids) {
      await eventually(async () => (await messageOf(id)).status === 'sent');
      expect(carriers.sent.find((m) => m.messageId === id)!.text).toContain(reportUrl);
      const view = await messageOf(id);
      expect(view.body).toContain('[link]');
      expect(JSON.stringify(view)).not.toContain(token);
    }
    const kept = JSON.stringify([
      await notifier.dataSource.query('SELECT * FROM messages WHERE id = ANY($1)', [ids]),
      await notifier.dataSource.query('SELECT * FROM outbox'),
    ]);
    expect(kept).not.toContain(token);
    expect(kept).not.toContain('/report');
    expect(notifier.logs.text()).not.toContain(token);
  });

  it('sends one message per dedupeKey', async () => {
    const first = request();
    const second = request({ dedupeKey: first.dedupeKey });
    await publish(publisher, notificationRequestedV1, first);
    await eventually(async () => (await messageOf(first.messageId)).status === 'sent');
    await publish(publisher, notificationRequestedV1, second);
    await new Promise((r) => setTimeout(r, 700));
    expect(carriers.sent.filter((m) => m.messageId === second.messageId)).toHaveLength(0);
    expect((await inject('GET', `/v1/messages/${second.messageId}`, OPS)).statusCode).toBe(404);
  });

  it('drops a message that arrives after its notAfter, with the origin echoed back', async () => {
    const late = request({ notAfter: new Date(Date.now() - 1_000).toISOString() });
    await publish(publisher, notificationRequestedV1, late);
    const dropped = await eventually(
      () => outcomes.of('notification.dropped.v1', late.messageId)[0],
    );
    expect(dropped.data).toMatchObject({ reason: 'expired', origin: late.origin, attempts: 0 });
    const view = await messageOf(late.messageId);
    expect(view.status).toBe('dropped');
    expect(view.timeline.map((t: { status: string }) => t.status)).toEqual(['queued', 'dropped']);
    expect(carriers.sent.some((m) => m.messageId === late.messageId)).toBe(false);
  });

  it('parks a request for an unknown template, logged as dropped with the reason', async () => {
    const odd = request({ template: 'otp.unheard_of' });
    await publish(publisher, notificationRequestedV1, odd);
    const dropped = await eventually(
      () => outcomes.of('notification.dropped.v1', odd.messageId)[0],
    );
    expect(dropped.data).toMatchObject({ reason: 'unknown_template', origin: odd.origin });
    const conn = await connect(infra.vhost.url);
    try {
      const ch = await conn.createChannel();
      const parked = await eventually(
        async () => (await ch.checkQueue('notifier.critical.dlq')).messageCount >= 1,
      );
      expect(parked).toBeTruthy();
      await ch.close();
    } finally {
      await conn.close();
    }
  });

  it('retries while no carrier takes a code, then drops it at notAfter without sending late', async () => {
    const req = request({ notAfter: new Date(Date.now() + 1_500).toISOString() });
    const tried: number[] = [];
    carriers.next = (m) => {
      if (m.messageId !== req.messageId) return undefined;
      tried.push(Date.now());
      return {
        outcome: 'unavailable',
        reason: 'all carriers failed',
        tried: [{ carrier: 'scripted', outcome: 'failed', reason: 'down' }],
      };
    };
    try {
      await publish(publisher, notificationRequestedV1, req);
      const dropped = await eventually(
        () => outcomes.of('notification.dropped.v1', req.messageId)[0],
        10_000,
      );
      expect(dropped.data).toMatchObject({ reason: 'expired', origin: req.origin });
      expect(tried.length).toBeGreaterThanOrEqual(3);
      expect(Math.max(...tried)).toBeLessThan(Date.parse(req.notAfter));
      const view = await messageOf(req.messageId);
      // Each retried attempt is a step that does not read as final, naming the carrier.
      expect(view.timeline.some((t: { status: string }) => t.status === 'failed')).toBe(false);
      expect(
        view.timeline.filter(
          (t: { status: string; carrier?: string; reason?: string }) =>
            t.status === 'sending' &&
            t.carrier === 'scripted' &&
            t.reason === 'attempt_failed: down',
        ).length,
      ).toBe(tried.length);
      expect(view.timeline.at(-1)).toMatchObject({ status: 'dropped', reason: 'expired' });
    } finally {
      carriers.next = () => undefined;
    }
  });

  it('records delivery receipts on the timeline and publishes notification.delivered.v1 / .failed.v1', async () => {
    const ok = request();
    const bad = request();
    await publish(publisher, notificationRequestedV1, ok);
    await publish(publisher, notificationRequestedV1, bad);
    await eventually(
      async () =>
        (await messageOf(ok.messageId)).status === 'sent' &&
        (await messageOf(bad.messageId)).status === 'sent',
    );
    const idOf = (messageId: string) =>
      carriers.sent.find((m) => m.messageId === messageId)!.providerMessageId;
    carriers.receipt({
      carrier: 'scripted',
      providerMessageId: idOf(ok.messageId),
      status: 'delivered',
    });
    carriers.receipt({
      carrier: 'scripted',
      providerMessageId: idOf(bad.messageId),
      status: 'failed',
      reason: 'UNDELIV',
    });
    await eventually(async () => (await messageOf(ok.messageId)).status === 'delivered');
    await eventually(async () => (await messageOf(bad.messageId)).status === 'failed');
    expect((await messageOf(bad.messageId)).timeline.at(-1)).toMatchObject({
      status: 'failed',
      carrier: 'scripted',
      reason: 'UNDELIV',
    });
    await eventually(() => outcomes.of('notification.delivered.v1', ok.messageId).length === 1);
    const failed = await eventually(() => outcomes.of('notification.failed.v1', bad.messageId)[0]);
    expect(failed.data).toMatchObject({ reason: 'UNDELIV', origin: bad.origin });
  });

  it('answers 404 for an unknown message, 401 without a key, and lets the storefront read a message', async () => {
    expect((await inject('GET', `/v1/messages/${randomUUID()}`, OPS)).statusCode).toBe(404);
    expect((await inject('GET', '/v1/messages/not-a-uuid', OPS)).statusCode).toBe(404);
    expect((await inject('GET', `/v1/messages/${randomUUID()}`, {})).statusCode).toBe(401);
    expect((await inject('GET', '/v1/carriers', STOREFRONT)).statusCode).toBe(403);
    const carriersRes = await inject('GET', '/v1/carriers', OPS);
    expect(carriersRes.json().carriers[0]).toMatchObject({ id: 'scripted', state: 'closed' });
  });

  it('publishes outcome events that match their contracts', () => {
    expect(outcomes.events.length).toBeGreaterThan(10);
    expect(outcomes.invalid).toEqual([]);
  });

  it('keeps codes out of the database, the logs and the metrics', async () => {
    const dump = JSON.stringify([
      await notifier.dataSource.query('SELECT * FROM messages'),
      await notifier.dataSource.query('SELECT * FROM message_events'),
      await notifier.dataSource.query('SELECT * FROM outbox'),
    ]);
    expect(containsCode(dump, CODE)).toBe(false);
    expect(containsCode(notifier.logs.text(), CODE)).toBe(false);
    expect(notifier.logs.text()).not.toContain('4155550123');
    const metrics = await inject('GET', '/metrics', {});
    expect(containsCode(metrics.body, CODE)).toBe(false);
    expect(metrics.body).toContain('notifier_sends_total');
    expect(metrics.body).toContain('bus_queue_lag_seconds');
    expect(metrics.body).toMatch(/notifier_dropped_total\{[^}]*reason="expired"[^}]*\} [1-9]/);
  });
});
