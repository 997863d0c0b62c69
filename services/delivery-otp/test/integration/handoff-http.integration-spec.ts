import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DomainError, redisReady } from '@phonegate/platform';
import { eventually } from '@phonegate/platform/testing';
import { ShipmentLedger } from '../../src/persistence/shipment.ledger';
import { auth, containsCode, dumpPostgres, dumpRedis, type Harness, KEYS, outForDeliveryBody, startHarness, windowAround } from './harness';

/**
 * The whole handoff story over HTTP on real PostgreSQL, Redis and RabbitMQ:
 * the code reaches the notifier's queue encrypted, the app shows it, the
 * courier's device confirms it, and every refusal in API.md answers its code.
 */
jest.setTimeout(30_000);

describe('delivery-otp over HTTP', () => {
  let h: Harness;
  const seenCodes = new Set<string>();
  const secrets: string[] = [];
  let seq = 0;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h?.close();
  });

  const inject = (opts: { method: 'GET' | 'POST' | 'DELETE'; url: string; key: string; payload?: unknown; headers?: Record<string, string> }) =>
    h.app.inject({
      method: opts.method,
      url: opts.url,
      headers: { ...auth(opts.key), ...(opts.headers ?? {}) },
      ...(opts.payload !== undefined ? { payload: opts.payload as Record<string, unknown> } : {}),
    });

  async function device(courierId: string): Promise<{ deviceId: string; secret: string }> {
    const res = await inject({ method: 'POST', url: `/v1/couriers/${courierId}/devices`, key: KEYS.ops, payload: { name: 'handheld' } });
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store'); // a secret, shown once
    const body = res.json<{ deviceId: string; secret: string }>();
    secrets.push(body.secret);
    return body;
  }

  async function outForDelivery(courierId: string, over: Record<string, unknown> = {}) {
    const shipmentId = `shp_${++seq}_${Date.now().toString(36)}`;
    const res = await inject({
      method: 'POST',
      url: `/v1/shipments/${shipmentId}/out-for-delivery`,
      key: KEYS.logistics,
      payload: outForDeliveryBody(shipmentId, courierId, { orderId: `ord_${seq}`, ...over }),
    });
    return { shipmentId, res };
  }

  async function smsCode(shipmentId: string, generation = 1): Promise<string> {
    const msg = await eventually(() =>
      h.tap.find(
        (m) =>
          m.envelope.type === 'notification.requested.v1' &&
          m.data['channel'] === 'sms' &&
          m.data['dedupeKey'] === `delivery-otp:${shipmentId}:${generation}:sms`,
      ),
    );
    const code = (msg.data['variables'] as Record<string, string>)['code'] as string;
    seenCodes.add(code);
    return code;
  }

  async function appCode(shipmentId: string, accountId = 'acc_ana'): Promise<string> {
    const res = await inject({ method: 'GET', url: `/v1/shipments/${shipmentId}/code?accountId=${accountId}`, key: KEYS.storefront });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const code = res.json<{ code: string }>().code;
    seenCodes.add(code);
    return code;
  }

  const handoff = (shipmentId: string, secret: string, code: string, headers: Record<string, string> = {}, at = new Date().toISOString()) =>
    inject({ method: 'POST', url: `/v1/shipments/${shipmentId}/handoff`, key: secret, payload: { code, at, location: { lat: 52.52, lng: 13.405 } }, headers });

  const events = (type: string, shipmentId: string) => h.tap.filter((m) => m.envelope.type === type && m.data['shipmentId'] === shipmentId);

  it('runs the whole story: issue, SMS to the notifier, the app shows it, the device confirms, a second confirm is 409', async () => {
    const dev = await device('cour_1');
    const { shipmentId, res } = await outForDelivery('cour_1');
    expect(res.statusCode).toBe(201);
    const body = res.json<Record<string, unknown>>();
    expect(body).toEqual({ shipmentId, status: 'awaiting_handoff', expiresAt: expect.any(String) });

    const sms = await eventually(() => h.tap.find((m) => m.data['dedupeKey'] === `delivery-otp:${shipmentId}:1:sms`));
    expect(sms.routingKey).toBe('notification.requested.v1.critical');
    expect(sms.data).toMatchObject({
      priority: 'critical',
      channel: 'sms',
      to: '+14155550123',
      template: 'delivery.handoff_code',
      variables: { windowStart: expect.any(String), windowEnd: expect.any(String) },
      origin: { service: 'delivery-otp', ref: shipmentId },
    });
    expect(sms.data['notAfter']).toBe((sms.data['variables'] as Record<string, string>)['windowEnd']);
    const code = await smsCode(shipmentId);
    expect(code).toMatch(/^\d{6}$/);
    // Encrypted on the wire (L2): the raw message never holds the code.
    // ...nor the full number (L1: `to` is a sensitive field of notification.requested.v1).
    expect(sms.envelope.sensitive).toEqual(['to', 'variables.code']);
    expect(containsCode(sms.raw, code)).toBe(false);
    expect(sms.raw).not.toContain('4155550123');
    expect(JSON.stringify(body)).not.toContain(code);

    const email = await eventually(() => h.tap.find((m) => m.data['dedupeKey'] === `delivery-otp:${shipmentId}:1:email`));
    expect(email.data).toMatchObject({ channel: 'email', to: 'ana@example.com', template: 'delivery.handoff_code_email' });
    await eventually(() => events('delivery.handoff.code_issued.v1', shipmentId).length === 1);

    expect(await appCode(shipmentId)).toBe(code);

    const ok = await handoff(shipmentId, dev.secret, code);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ status: 'handed_off', at: expect.any(String) });

    const confirmed = await eventually(() => events('delivery.handoff.confirmed.v1', shipmentId)[0]);
    expect(confirmed.data).toMatchObject({ shipmentId, courierId: 'cour_1', deviceId: dev.deviceId, location: { lat: 52.52, lng: 13.405 } });
    const handedOffMail = await eventually(() =>
      h.tap.find((m) => m.data['template'] === 'delivery.handed_off' && (m.data['variables'] as Record<string, string>)['shipmentId'] === shipmentId),
    );
    expect(handedOffMail.data).toMatchObject({ channel: 'email', to: 'ana@example.com' });

    const again = await handoff(shipmentId, dev.secret, code);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'already_handed_off' });

    // Single use: the code is gone for the app too.
    expect((await inject({ method: 'GET', url: `/v1/shipments/${shipmentId}/code?accountId=acc_ana`, key: KEYS.storefront })).statusCode).toBe(404);

    const rows = await h.pg.query('SELECT outcome, device_id, courier_id, location FROM handoff_attempts WHERE shipment_id = $1 ORDER BY received_at', [shipmentId]);
    expect(rows.rows).toEqual([
      { outcome: 'confirmed', device_id: dev.deviceId, courier_id: 'cour_1', location: { lat: 52.52, lng: 13.405 } },
      { outcome: 'already_handed_off', device_id: dev.deviceId, courier_id: 'cour_1', location: { lat: 52.52, lng: 13.405 } },
    ]);
  });

  it('answers 403 to a courier not assigned, to another courier\'s device after a reassignment, and to client keys', async () => {
    const mine = await device('cour_a');
    const other = await device('cour_b');
    const { shipmentId } = await outForDelivery('cour_a');
    const code = await smsCode(shipmentId);

    const notAssigned = await handoff(shipmentId, other.secret, code);
    expect(notAssigned.statusCode).toBe(403);
    expect(notAssigned.json()).toMatchObject({ code: 'not_assigned' });

    // Reassigned to cour_b: the old courier's device is now the other courier's device.
    const moved = await inject({
      method: 'POST',
      url: `/v1/shipments/${shipmentId}/reschedule`,
      key: KEYS.logistics,
      payload: { window: windowAround(Date.now(), 30, 90), courierId: 'cour_b' },
    });
    expect(moved.statusCode).toBe(200);
    expect((await handoff(shipmentId, mine.secret, code)).json()).toMatchObject({ status: 403, code: 'not_assigned' });

    expect((await handoff(shipmentId, KEYS.logistics, code)).statusCode).toBe(403);
    expect((await handoff(shipmentId, 'pgd_not-a-real-secret-but-looks-like-one-xxxxxxxxxx', code)).statusCode).toBe(401);
    expect((await h.app.inject({ method: 'POST', url: `/v1/shipments/${shipmentId}/handoff`, payload: { code, at: new Date().toISOString() } })).statusCode).toBe(401);

    // None of the refusals counted an attempt: the new courier's device still succeeds with the same code.
    expect((await handoff(shipmentId, other.secret, code)).statusCode).toBe(200);
  });

  it('locks after 5 wrong codes (423), refuses the right code then, and support can unlock', async () => {
    const dev = await device('cour_lock');
    const { shipmentId } = await outForDelivery('cour_lock');
    const code = await smsCode(shipmentId);
    const wrong = code === '000000' ? '000001' : '000000';

    const remaining: unknown[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await handoff(shipmentId, dev.secret, wrong);
      expect(res.statusCode).toBe(422);
      expect(res.json()).toMatchObject({ code: 'code_mismatch' });
      remaining.push(res.json().attemptsRemaining);
    }
    expect(remaining).toEqual([4, 3, 2, 1]);
    const fifth = await handoff(shipmentId, dev.secret, wrong);
    expect(fifth.statusCode).toBe(423);
    expect(fifth.json()).toMatchObject({ code: 'handoff_locked', attemptsRemaining: 0 });
    const right = await handoff(shipmentId, dev.secret, code);
    expect(right.statusCode).toBe(423);

    await eventually(() => events('delivery.handoff.failed_attempt.v1', shipmentId).length === 5 && events('delivery.handoff.locked.v1', shipmentId).length === 1);
    expect(events('delivery.handoff.failed_attempt.v1', shipmentId).map((e) => e.data['attemptsLeft'])).toEqual([4, 3, 2, 1, 0]);

    // The customer still sees the code while locked; support unlocks; the same code then works.
    expect(await appCode(shipmentId)).toBe(code);
    expect((await inject({ method: 'POST', url: `/v1/shipments/${shipmentId}/unlock`, key: KEYS.storefront })).statusCode).toBe(403);
    const unlocked = await inject({ method: 'POST', url: `/v1/shipments/${shipmentId}/unlock`, key: KEYS.ops });
    expect(unlocked.statusCode).toBe(200);
    expect(unlocked.json()).toMatchObject({ status: 'awaiting_handoff', attemptsRemaining: 5 });
    expect((await handoff(shipmentId, dev.secret, code)).statusCode).toBe(200);

    const outcomes = await h.pg.query('SELECT outcome FROM handoff_attempts WHERE shipment_id = $1 ORDER BY received_at, outcome', [shipmentId]);
    expect(outcomes.rows.map((r: { outcome: string }) => r.outcome)).toEqual(['code_mismatch', 'code_mismatch', 'code_mismatch', 'code_mismatch', 'locked', 'refused_locked', 'confirmed']);
  });

  it('regenerates: the old code fails at once, the new one is re-sent by SMS and works; it also clears a lock', async () => {
    const dev = await device('cour_regen');
    const { shipmentId } = await outForDelivery('cour_regen');
    const first = await smsCode(shipmentId);
    for (let i = 0; i < 5; i++) await handoff(shipmentId, dev.secret, first === '999999' ? '999998' : '999999');

    const forbidden = await inject({ method: 'POST', url: `/v1/shipments/${shipmentId}/code/regenerate`, key: KEYS.storefront, payload: { accountId: 'acc_other' } });
    expect(forbidden.statusCode).toBe(403);
    const regen = await inject({ method: 'POST', url: `/v1/shipments/${shipmentId}/code/regenerate`, key: KEYS.storefront, payload: { accountId: 'acc_ana' } });
    expect(regen.statusCode).toBe(200);
    expect(regen.json()).toMatchObject({ shipmentId, status: 'awaiting_handoff', expiresAt: expect.any(String) });

    const second = await smsCode(shipmentId, 2);
    expect(await appCode(shipmentId)).toBe(second);
    await eventually(() => events('delivery.handoff.code_issued.v1', shipmentId).some((e) => e.data['reason'] === 'regenerated'));
    // Only an SMS for a regenerated code (the e-mail went with the first one).
    expect(h.tap.filter((m) => m.data['dedupeKey'] === `delivery-otp:${shipmentId}:2:email`)).toHaveLength(0);

    if (second !== first) {
      const old = await handoff(shipmentId, dev.secret, first);
      expect(old.statusCode).toBe(422);
      expect(old.json()).toMatchObject({ code: 'code_mismatch', attemptsRemaining: 4 });
    }
    expect((await handoff(shipmentId, dev.secret, second)).statusCode).toBe(200);
    const after = await inject({ method: 'POST', url: `/v1/shipments/${shipmentId}/code/regenerate`, key: KEYS.storefront });
    expect(after.json()).toMatchObject({ code: 'already_handed_off' });
  });

  it('cancel revokes the code: the app gets 404 and the device 410', async () => {
    const dev = await device('cour_cancel');
    const { shipmentId } = await outForDelivery('cour_cancel');
    const code = await smsCode(shipmentId);
    expect((await inject({ method: 'GET', url: `/v1/shipments/${shipmentId}/code?accountId=someone_else`, key: KEYS.storefront })).statusCode).toBe(403);

    const cancelled = await inject({ method: 'POST', url: `/v1/shipments/${shipmentId}/cancel`, key: KEYS.logistics });
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json()).toEqual({ shipmentId, status: 'cancelled' });
    expect((await inject({ method: 'GET', url: `/v1/shipments/${shipmentId}/code?accountId=acc_ana`, key: KEYS.storefront })).statusCode).toBe(404);
    const refused = await handoff(shipmentId, dev.secret, code);
    expect(refused.statusCode).toBe(410);
    expect(refused.json()).toMatchObject({ code: 'window_closed', reason: 'cancelled' });
    expect((await inject({ method: 'POST', url: `/v1/shipments/${shipmentId}/code/regenerate`, key: KEYS.storefront })).statusCode).toBe(404);
    expect((await inject({ method: 'GET', url: `/v1/shipments/shp_unknown/code?accountId=acc_ana`, key: KEYS.storefront })).statusCode).toBe(404);
    expect((await inject({ method: 'POST', url: `/v1/shipments/shp_unknown/cancel`, key: KEYS.logistics })).statusCode).toBe(404);
  });

  it('reschedule keeps the code and moves its expiry with the new window', async () => {
    const dev = await device('cour_move');
    const { shipmentId, res } = await outForDelivery('cour_move');
    const code = await smsCode(shipmentId);
    const window = windowAround(Date.now(), 10, 240);
    const moved = await inject({ method: 'POST', url: `/v1/shipments/${shipmentId}/reschedule`, key: KEYS.logistics, payload: { window } });
    expect(moved.statusCode).toBe(200);
    const expiresAt = moved.json<{ expiresAt: string }>().expiresAt;
    expect(Date.parse(expiresAt)).toBe(Date.parse(window.end) + 30 * 60_000);
    expect(expiresAt).not.toBe(res.json<{ expiresAt: string }>().expiresAt);
    const shown = await inject({ method: 'GET', url: `/v1/shipments/${shipmentId}/code?accountId=acc_ana`, key: KEYS.storefront });
    expect(shown.json()).toMatchObject({ code, expiresAt });
    const ttl = await h.redis.pttl(`code:${shipmentId}`);
    expect(ttl).toBeGreaterThan(269 * 60_000);
    expect((await handoff(shipmentId, dev.secret, code)).statusCode).toBe(200);
  });

  it("answers logistics' out-for-delivery retried with its rotated key (same Idempotency-Key) with the first answer, one code sent", async () => {
    const shipmentId = `shp_rot_${Date.now().toString(36)}`;
    const payload = { orderId: 'ord_rot', accountId: 'acc_ana', contact: { phone: '+14155550123' }, courierId: 'cour_rot', window: windowAround(Date.now()) };
    const headers = { 'idempotency-key': `ofd-${shipmentId}` };
    const url = `/v1/shipments/${shipmentId}/out-for-delivery`;
    const first = await inject({ method: 'POST', url, key: KEYS.logistics, payload, headers });
    const retried = await inject({ method: 'POST', url, key: KEYS.logisticsNext, payload, headers });
    expect(first.statusCode).toBe(201);
    expect({ status: retried.statusCode, replayed: retried.headers['idempotent-replayed'], body: retried.json() }).toEqual({
      status: 201,
      replayed: 'true',
      body: first.json(),
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(h.tap.filter((m) => m.data['channel'] === 'sms' && (m.data['origin'] as { ref?: string })?.ref === shipmentId)).toHaveLength(1);
  });

  it('validates bodies and refuses a window that has already ended', async () => {
    const bad = await inject({ method: 'POST', url: '/v1/shipments/shp_bad/out-for-delivery', key: KEYS.logistics, payload: { orderId: 'o', accountId: 'a', contact: { phone: '12' }, courierId: 'c', window: { start: 'x', end: 'y' } } });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().errors.map((e: { field: string }) => e.field)).toEqual(expect.arrayContaining(['contact.phone', 'window.start', 'window.end']));
    // Numbers that cannot take the code by SMS (premium-rate, a UK fixed line): 422 naming contact.phone, nothing issued.
    for (const phone of ['+19005550123', '+442071838750']) {
      const refused = await inject({ method: 'POST', url: '/v1/shipments/shp_bad_phone/out-for-delivery', key: KEYS.logistics, payload: { orderId: 'o', accountId: 'a', contact: { phone }, courierId: 'c', window: windowAround(Date.now()) } });
      expect({ phone, status: refused.statusCode, fields: refused.json().errors.map((e: { field: string }) => e.field) }).toEqual({ phone, status: 422, fields: ['contact.phone'] });
    }
    expect(await h.redis.exists('code:shp_bad_phone')).toBe(0);
    // A well-formed number the numbering plan cannot place is still taken (as before).
    const unplaced = await outForDelivery('cour_x', { contact: { phone: '+447700900123' } });
    expect(unplaced.res.statusCode).toBe(201);
    const past = await outForDelivery('cour_x', { window: { start: new Date(Date.now() - 5 * 3600_000).toISOString(), end: new Date(Date.now() - 3 * 3600_000).toISOString() } });
    expect(past.res.statusCode).toBe(410);
    expect(past.res.json()).toMatchObject({ code: 'window_closed' });
    expect((await outForDelivery('cour_x', {}).then((r) => inject({ method: 'GET', url: `/v1/shipments/${r.shipmentId}/code`, key: KEYS.storefront }))).statusCode).toBe(422);
    expect((await inject({ method: 'POST', url: '/v1/shipments/shp_bad/out-for-delivery', key: KEYS.storefront, payload: {} })).statusCode).toBe(403);
  });

  it('uses the merchant code length when configured and the default otherwise', async () => {
    const h4 = await startHarness({ env: { DELIVERY_MERCHANT_CODE_LENGTHS: 'merchantA:4,merchantB:5' } });
    try {
      const issue = async (merchantId: string | undefined) => {
        const shipmentId = `shp_len_${merchantId ?? 'none'}`;
        const res = await h4.app.inject({
          method: 'POST',
          url: `/v1/shipments/${shipmentId}/out-for-delivery`,
          headers: auth(KEYS.logistics),
          payload: { orderId: 'o1', accountId: 'acc_1', contact: { phone: '+14155550123' }, courierId: 'c1', window: windowAround(Date.now()), ...(merchantId ? { merchantId } : {}) },
        });
        expect(res.statusCode).toBe(201);
        const shown = await h4.app.inject({ method: 'GET', url: `/v1/shipments/${shipmentId}/code?accountId=acc_1`, headers: auth(KEYS.storefront) });
        return shown.json<{ code: string }>().code;
      };
      expect(await issue('merchantA')).toMatch(/^\d{4}$/);
      expect(await issue('merchantB')).toMatch(/^\d{5}$/);
      expect(await issue(undefined)).toMatch(/^\d{6}$/);
    } finally {
      await h4.close();
    }
  });

  it('replays the first 200 to a device retrying with the same Idempotency-Key after a dropped response: one row, one event', async () => {
    const dev = await device('cour_idem');
    const { shipmentId } = await outForDelivery('cour_idem');
    const code = await smsCode(shipmentId);
    const payload = JSON.stringify({ code, at: new Date().toISOString() });
    const headers = { ...auth(dev.secret), 'content-type': 'application/json', 'idempotency-key': 'handoff-retry-1' };

    // The first request reaches the server, but the connection drops before the answer.
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = h.app.getHttpServer().address() as AddressInfo;
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: `/v1/shipments/${shipmentId}/handoff`, headers });
      req.on('error', () => resolve());
      req.end(payload, () => {
        req.destroy();
        resolve();
      });
    });
    await eventually(async () => (await h.pg.query(`SELECT 1 FROM handoff_attempts WHERE shipment_id = $1 AND outcome = 'confirmed'`, [shipmentId])).rowCount === 1);

    const replay = async () => {
      for (;;) {
        const res = await h.app.inject({ method: 'POST', url: `/v1/shipments/${shipmentId}/handoff`, headers, payload });
        // 409 idempotency_conflict only while the first is still being answered.
        if (!(res.statusCode === 409 && res.json().code === 'idempotency_conflict')) return res;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const retry = await replay();
    expect(retry.statusCode).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json()).toMatchObject({ status: 'handed_off' });
    const retry2 = await replay();
    expect(retry2.body).toBe(retry.body);

    // The key is per device: another device of the same courier with the same key is not replayed.
    const sibling = await device('cour_idem');
    const otherDevice = await h.app.inject({
      method: 'POST',
      url: `/v1/shipments/${shipmentId}/handoff`,
      headers: { ...headers, ...auth(sibling.secret) },
      payload,
    });
    expect(otherDevice.statusCode).toBe(409);
    expect(otherDevice.json().code).toBe('already_handed_off');

    await eventually(() => events('delivery.handoff.confirmed.v1', shipmentId).length >= 1);
    await new Promise((r) => setTimeout(r, 500));
    expect(events('delivery.handoff.confirmed.v1', shipmentId)).toHaveLength(1);
    const confirmed = await h.pg.query(`SELECT count(*)::int AS n FROM handoff_attempts WHERE shipment_id = $1 AND outcome = 'confirmed'`, [shipmentId]);
    expect(confirmed.rows[0].n).toBe(1);
  });

  it('repairs on retry when the record fails after Redis accepted the code: 503, then 200 with one row and one event', async () => {
    const dev = await device('cour_repair');
    const { shipmentId } = await outForDelivery('cour_repair');
    const code = await smsCode(shipmentId);
    const ledger = h.app.get(ShipmentLedger);
    const original = ledger.transaction.bind(ledger);
    let failures = 0;
    const spy = jest.spyOn(ledger, 'transaction').mockImplementation((id, options, work) => {
      if (id === shipmentId && failures === 0) {
        failures++;
        return Promise.reject(new DomainError('service_unavailable', 'database down (injected)', {}, true));
      }
      return original(id, options, work);
    });
    try {
      const headers = { 'idempotency-key': 'repair-1' };
      const first = await handoff(shipmentId, dev.secret, code, headers);
      expect(first.statusCode).toBe(503);
      const retry = await handoff(shipmentId, dev.secret, code, headers);
      expect(retry.statusCode).toBe(200);
      expect(retry.json()).toMatchObject({ status: 'handed_off' });
    } finally {
      spy.mockRestore();
    }
    const rows = await h.pg.query(`SELECT outcome, device_id FROM handoff_attempts WHERE shipment_id = $1`, [shipmentId]);
    expect(rows.rows).toEqual([{ outcome: 'confirmed', device_id: dev.deviceId }]);
    await eventually(() => events('delivery.handoff.confirmed.v1', shipmentId).length === 1);
    const status = await h.pg.query('SELECT status FROM shipments WHERE id = $1', [shipmentId]);
    expect(status.rows[0].status).toBe('handed_off');
  });

  it('fails closed with 503 while Redis is unreachable, and recovers', async () => {
    const dev = await device('cour_down');
    const { shipmentId } = await outForDelivery('cour_down');
    const code = await smsCode(shipmentId);
    // Warm the device cache so the refusal is Redis's, not the lookup's.
    expect((await handoff(shipmentId, dev.secret, code === '123123' ? '321321' : '123123')).statusCode).toBe(422);

    const ended = new Promise((resolve) => h.redis.once('end', resolve));
    h.redis.disconnect();
    await ended;
    try {
      const refused = await handoff(shipmentId, dev.secret, code);
      expect(refused.statusCode).toBe(503);
      expect(refused.json()).toMatchObject({ code: 'service_unavailable' });
      expect(refused.headers['retry-after']).toBe('1');
      const shown = await inject({ method: 'GET', url: `/v1/shipments/${shipmentId}/code?accountId=acc_ana`, key: KEYS.storefront });
      expect(shown.statusCode).toBe(503);
    } finally {
      await h.redis.connect();
      await redisReady(h.redis);
    }
    const confirmed = await h.pg.query(`SELECT count(*)::int AS n FROM handoff_attempts WHERE shipment_id = $1 AND outcome = 'confirmed'`, [shipmentId]);
    expect(confirmed.rows[0].n).toBe(0);
    expect((await handoff(shipmentId, dev.secret, code)).statusCode).toBe(200);
  });

  it('revokes a device secret', async () => {
    const dev = await device('cour_rev');
    const { shipmentId } = await outForDelivery('cour_rev');
    const code = await smsCode(shipmentId);
    expect((await inject({ method: 'DELETE', url: `/v1/couriers/cour_other/devices/${dev.deviceId}`, key: KEYS.ops })).statusCode).toBe(404);
    expect((await inject({ method: 'DELETE', url: `/v1/couriers/cour_rev/devices/${dev.deviceId}`, key: KEYS.ops })).statusCode).toBe(204);
    expect((await handoff(shipmentId, dev.secret, code)).statusCode).toBe(401);
  });

  it('keeps every code out of Redis, PostgreSQL (outbox included), the queue and the logs in clear; secrets out of the logs', async () => {
    expect(seenCodes.size).toBeGreaterThan(8);
    const redisDump = await dumpRedis(h);
    const pgDump = await dumpPostgres(h);
    expect(pgDump).toMatch(/^outbox: \[\{/m);
    expect(pgDump).toContain('pgenc:v1:');
    const logs = h.logs.text();
    expect(logs.length).toBeGreaterThan(1000);
    const raws = h.tap.map((m) => m.raw).join('\n');
    for (const code of seenCodes) {
      expect({ code, inRedis: containsCode(redisDump, code) }).toEqual({ code, inRedis: false });
      expect({ code, inPostgres: containsCode(pgDump, code) }).toEqual({ code, inPostgres: false });
      expect({ code, inQueue: containsCode(raws, code) }).toEqual({ code, inQueue: false });
      expect({ code, inLogs: containsCode(logs, code) }).toEqual({ code, inLogs: false });
    }
    for (const secret of secrets) {
      expect(logs).not.toContain(secret);
      expect(pgDump).not.toContain(secret);
    }
    expect(logs).not.toContain('4155550123');
    expect(logs).not.toContain(KEYS.logistics);
  });
});
