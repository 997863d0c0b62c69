import { CodeStore, type CheckInput, type CheckResult } from '../../src/codes/code.store';
import { auth, type Harness, KEYS, startHarness, windowAround } from './harness';

jest.setTimeout(30_000);

/**
 * A support unlock that lands while a wrong code is between its Redis step and the write that
 * mirrors the count and lock onto the shipment's row: the row must not be locked again after
 * the unlock answered 200 (a later code of the shipment would inherit that stale lock and the
 * right code be refused). The race is made deterministic by holding the real store's check
 * (after Redis answered) until the unlock has committed.
 */
describe('support unlock racing a wrong code', () => {
  let h: Harness;
  let store: CodeStore;
  let seq = 0;

  beforeAll(async () => {
    h = await startHarness({ env: { LOG_LEVEL: 'warn' } });
    store = h.app.get(CodeStore);
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await h?.close();
  });

  const post = (url: string, key: string, payload: Record<string, unknown> = {}) =>
    h.app.inject({ method: 'POST', url, headers: auth(key), payload });

  async function shipmentWithCode(courierId: string) {
    const dev = await post(`/v1/couriers/${courierId}/devices`, KEYS.ops);
    expect(dev.statusCode).toBe(201);
    const shipmentId = `shp_unlock_race_${++seq}_${Date.now().toString(36)}`;
    const order = {
      orderId: `ord_${shipmentId}`,
      accountId: 'acc_unlock_race',
      contact: { phone: '+14155550123' },
      courierId,
      window: windowAround(Date.now()),
    };
    expect(
      (await post(`/v1/shipments/${shipmentId}/out-for-delivery`, KEYS.logistics, order))
        .statusCode,
    ).toBe(201);
    const shown = await h.app.inject({
      method: 'GET',
      url: `/v1/shipments/${shipmentId}/code?accountId=acc_unlock_race`,
      headers: auth(KEYS.storefront),
    });
    const code = shown.json<{ code: string }>().code;
    const wrong = String((Number(code) + 1) % 10 ** code.length).padStart(code.length, '0');
    return { shipmentId, code, wrong, secret: dev.json<{ secret: string }>().secret };
  }

  /** The next store.check runs for real, then holds its answer until released. */
  function holdNextCheck() {
    const real = store.check.bind(store);
    let held!: (result: CheckResult) => void;
    const reached = new Promise<CheckResult>((resolve) => (held = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    jest
      .spyOn(store, 'check')
      .mockImplementationOnce(async (input: CheckInput): Promise<CheckResult> => {
        const result = await real(input);
        held(result);
        await released;
        return result;
      });
    return { reached, release };
  }

  async function row(shipmentId: string) {
    const rows = await h.pg.query<{ handoff_attempts: number; handoff_locked: boolean }>(
      'SELECT handoff_attempts, handoff_locked FROM shipments WHERE id = $1',
      [shipmentId],
    );
    return rows.rows[0];
  }

  const handoff = (shipmentId: string, secret: string, code: string) =>
    post(`/v1/shipments/${shipmentId}/handoff`, secret, { code, at: new Date().toISOString() });

  it('leaves the row unlocked when the unlock commits between the locking wrong code and its mirror', async () => {
    const { shipmentId, code, wrong, secret } = await shipmentWithCode('cour_unlock_race_lock');
    for (let i = 0; i < 4; i++)
      expect((await handoff(shipmentId, secret, wrong)).statusCode).toBe(422);

    const hold = holdNextCheck();
    const fifth = handoff(shipmentId, secret, wrong);
    expect((await hold.reached).verdict).toBe('locked_now');
    // Redis says locked; support unlocks before the wrong code's write reaches the row.
    const unlocked = await post(`/v1/shipments/${shipmentId}/unlock`, KEYS.ops);
    expect(unlocked.statusCode).toBe(200);
    expect(await row(shipmentId)).toEqual({ handoff_attempts: 0, handoff_locked: false });
    hold.release();
    // The courier who typed it was locked out at that moment: that answer stands.
    expect((await fifth).statusCode).toBe(423);

    // The row mirrors what is live after the unlock: no lock, no spent attempts.
    expect(await row(shipmentId)).toEqual({ handoff_attempts: 0, handoff_locked: false });
    expect((await handoff(shipmentId, secret, code)).statusCode).toBe(200);
  });

  it('leaves the row with the live count when the unlock commits between a wrong code and its mirror', async () => {
    const { shipmentId, code, wrong, secret } = await shipmentWithCode('cour_unlock_race_count');
    for (let i = 0; i < 5; i++) await handoff(shipmentId, secret, wrong);
    expect(await row(shipmentId)).toEqual({ handoff_attempts: 5, handoff_locked: true });

    const unlockedFirst = await post(`/v1/shipments/${shipmentId}/unlock`, KEYS.ops);
    expect(unlockedFirst.statusCode).toBe(200);
    const hold = holdNextCheck();
    const wrongAgain = handoff(shipmentId, secret, wrong);
    expect((await hold.reached).verdict).toBe('mismatch');
    expect((await post(`/v1/shipments/${shipmentId}/unlock`, KEYS.ops)).statusCode).toBe(200);
    hold.release();
    expect((await wrongAgain).json()).toMatchObject({
      code: 'code_mismatch',
      attemptsRemaining: 4,
    });

    // The unlock reset the live count after that wrong code: the row says so too.
    expect(await row(shipmentId)).toEqual({ handoff_attempts: 0, handoff_locked: false });
    expect((await handoff(shipmentId, secret, code)).statusCode).toBe(200);
  });
});
