import { eventually } from '@phonegate/platform/testing';
import { auth, type Harness, KEYS, OffsetClock, startHarness } from './harness';

jest.setTimeout(30_000);

const MIN = 60_000;

/**
 * After the delivery window ends (the grace of DELIVERY_GRACE, 30 min by
 * default, is only for late handoffs): no code is issued, re-sent or moved
 * onto a window already over, since its SMS and e-mail may not arrive after
 * the window (notAfter) and a new code would kill the one an offline
 * courier's late, in-window handoff still needs.
 */
describe('the delivery window and its grace', () => {
  let h: Harness;
  const clock = new OffsetClock();
  let seq = 0;

  beforeAll(async () => {
    h = await startHarness({ clock, env: { LOG_LEVEL: 'warn' } });
  });

  afterEach(() => {
    clock.offsetMs = 0;
  });

  afterAll(async () => {
    await h?.close();
  });

  const post = (url: string, key: string, payload: Record<string, unknown> = {}) =>
    h.app.inject({ method: 'POST', url, headers: auth(key), payload });
  const window = (startMs: number, endMs: number) => ({
    start: new Date(startMs).toISOString(),
    end: new Date(endMs).toISOString(),
  });

  async function device(courierId: string): Promise<{ deviceId: string; secret: string }> {
    const res = await post(`/v1/couriers/${courierId}/devices`, KEYS.ops);
    expect(res.statusCode).toBe(201);
    return res.json();
  }

  function outForDelivery(courierId: string, win: { start: string; end: string }) {
    const shipmentId = `shp_win_${++seq}_${Date.now().toString(36)}`;
    const payload = {
      orderId: `ord_${shipmentId}`,
      accountId: 'acc_win',
      contact: { phone: '+14155550123', email: 'ana@example.com' },
      courierId,
      window: win,
    };
    return {
      shipmentId,
      res: post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, payload),
    };
  }

  /** A shipment whose window ends 2 minutes from now (real time), its code issued and sent. */
  async function issuedEndingSoon(courierId: string) {
    const now = Date.now();
    const win = window(now - 4 * 60 * MIN, now + 2 * MIN);
    const { shipmentId, res } = outForDelivery(courierId, win);
    expect((await res).statusCode).toBe(201);
    const code = await appCode(shipmentId);
    await eventually(() => codeMessages(shipmentId).length === 2);
    return { shipmentId, code, windowEndMs: Date.parse(win.end) };
  }

  async function appCode(shipmentId: string): Promise<string> {
    const res = await h.app.inject({
      method: 'GET',
      url: `/v1/shipments/${shipmentId}/code?accountId=acc_win`,
      headers: auth(KEYS.storefront),
    });
    expect(res.statusCode).toBe(200);
    return res.json<{ code: string }>().code;
  }

  const codeMessages = (shipmentId: string) =>
    h.tap.filter(
      (m) =>
        m.envelope.type === 'notification.requested.v1' &&
        (m.data['dedupeKey'] as string | undefined)?.startsWith(`delivery-otp:${shipmentId}:`),
    );
  const outboxRows = async (shipmentId: string) =>
    (
      await h.pg.query<{ routing_key: string }>(
        `SELECT routing_key FROM outbox WHERE envelope->'data'->>'shipmentId' = $1 OR envelope->'data'->'origin'->>'ref' = $1`,
        [shipmentId],
      )
    ).rows;

  const handoff = (shipmentId: string, secret: string, code: string, atMs: number) =>
    h.app.inject({
      method: 'POST',
      url: `/v1/shipments/${shipmentId}/handoff`,
      headers: auth(secret),
      payload: { code, at: new Date(atMs).toISOString() },
    });

  it('refuses out-for-delivery and a reschedule onto a window that ended, even within the grace: 410, nothing sent', async () => {
    const now = Date.now();
    const ended = window(now - 3 * 60 * MIN, now - 10 * MIN);

    const late = outForDelivery('cour_win', ended);
    const refused = await late.res;
    expect(refused.statusCode).toBe(410);
    expect(refused.json()).toMatchObject({ code: 'window_closed' });
    expect(await outboxRows(late.shipmentId)).toEqual([]);
    expect(
      await h.pg.query('SELECT id FROM shipments WHERE id = $1', [late.shipmentId]),
    ).toMatchObject({ rowCount: 0 });

    const { shipmentId, res } = outForDelivery('cour_win', window(now - 60 * MIN, now + 60 * MIN));
    const issued = await res;
    expect(issued.statusCode).toBe(201);
    const moved = await post(`/v1/shipments/${shipmentId}/reschedule`, KEYS.logistics, {
      window: ended,
    });
    expect(moved.statusCode).toBe(410);
    expect(moved.json()).toMatchObject({ code: 'window_closed' });
    const row = await h.pg.query<{ expires_at: Date }>(
      'SELECT expires_at FROM shipments WHERE id = $1',
      [shipmentId],
    );
    expect(row.rows[0]?.expires_at.toISOString()).toBe(
      issued.json<{ expiresAt: string }>().expiresAt,
    );
  });

  it('refuses to regenerate once the window ended: 410, no new code sent, the old one still serves a late offline handoff', async () => {
    const dev = await device('cour_regen_late');
    const { shipmentId, code, windowEndMs } = await issuedEndingSoon('cour_regen_late');

    clock.offsetMs = 12 * MIN; // the window ended 10 minutes ago; its grace runs 20 more
    const regen = await post(`/v1/shipments/${shipmentId}/code/regenerate`, KEYS.storefront, {
      accountId: 'acc_win',
    });
    expect(regen.statusCode).toBe(410);
    expect(regen.json()).toMatchObject({ code: 'window_closed' });
    expect(await appCode(shipmentId)).toBe(code);

    // The courier's device was offline: it confirmed at the door a minute before the window ended.
    const late = await handoff(shipmentId, dev.secret, code, windowEndMs - MIN);
    expect(late.statusCode).toBe(200);
    expect(codeMessages(shipmentId).map((m) => m.data['dedupeKey'])).toEqual([
      `delivery-otp:${shipmentId}:1:sms`,
      `delivery-otp:${shipmentId}:1:email`,
    ]);
    const generations = await h.pg.query('SELECT code_generation FROM shipments WHERE id = $1', [
      shipmentId,
    ]);
    expect(generations.rows).toEqual([{ code_generation: 1 }]);
  });

  it('applies the clock rule in the grace: device time ahead, online outside the window, a late offline submission inside it', async () => {
    const dev = await device('cour_time');
    const { shipmentId, code } = await issuedEndingSoon('cour_time');
    clock.offsetMs = 12 * MIN; // the window ended 10 minutes ago
    const now = clock.nowMs();

    const ahead = await handoff(shipmentId, dev.secret, code, now + 5 * MIN);
    expect(ahead.json()).toMatchObject({
      status: 410,
      code: 'window_closed',
      reason: 'device_clock_ahead',
    });
    const online = await handoff(shipmentId, dev.secret, code, now);
    expect(online.json()).toMatchObject({
      status: 410,
      code: 'window_closed',
      reason: 'outside_window',
    });
    // An offline device saying it happened 20 minutes ago (inside the window) is accepted.
    const late = await handoff(shipmentId, dev.secret, code, now - 20 * MIN);
    expect(late.statusCode).toBe(200);
    const row = await h.pg.query<{ device_at: Date; received_at: Date }>(
      `SELECT device_at, received_at FROM handoff_attempts WHERE shipment_id = $1 AND outcome = 'confirmed'`,
      [shipmentId],
    );
    expect(row.rows[0]!.received_at.getTime() - row.rows[0]!.device_at.getTime()).toBeGreaterThan(
      19 * MIN,
    );
  });
});
