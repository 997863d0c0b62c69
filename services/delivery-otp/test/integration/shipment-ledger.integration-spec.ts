import { randomUUID } from 'node:crypto';
import { Outbox } from '@phonegate/messaging';
import { DomainError } from '@phonegate/platform';
import { DataSource } from 'typeorm';
import { PgShipmentLedger } from '../../src/persistence/pg-shipment.ledger';
import type { AttemptRecord, ShipmentLedger, ShipmentRecord } from '../../src/persistence/shipment.ledger';
import { TypeOrmShipmentLedger } from '../../src/persistence/typeorm-shipment.ledger';
import { type Harness, startHarness } from './harness';

jest.setTimeout(60_000);

/**
 * The ledger's two implementations on the same PostgreSQL: the plain SQL one
 * the service uses there, and the portable TypeORM one (other drivers) must
 * read and write the same rows the same way.
 */
describe('shipment ledger', () => {
  let h: Harness;
  let dataSource: DataSource;
  let outbox: Outbox;

  beforeAll(async () => {
    h = await startHarness({ env: { LOG_LEVEL: 'warn' } });
    dataSource = h.app.get(DataSource);
    outbox = h.app.get(Outbox);
  });

  afterAll(async () => {
    await h?.close();
  });

  const shipment = (id: string, extra: Partial<ShipmentRecord> = {}): ShipmentRecord => ({
    id,
    orderId: `ord_${id}`,
    accountId: `acc_${id}`,
    merchantId: null,
    courierId: 'cour_1',
    phone: '+14155550123',
    email: null,
    locale: 'en',
    windowStart: new Date('2026-11-22T10:00:00.123Z'),
    windowEnd: new Date('2026-11-22T12:00:00.456Z'),
    expiresAt: new Date('2026-11-22T12:30:00.456Z'),
    status: 'awaiting_handoff',
    codeGeneration: 1,
    handedOffAt: null,
    handedOffDeviceId: null,
    handoffAttempts: 0,
    handoffLocked: false,
    regenerations: 0,
    lastCodeSentAt: null,
    ...extra,
  });
  const attempt = (shipmentId: string, extra: Partial<AttemptRecord> = {}): AttemptRecord => ({
    id: randomUUID(),
    shipmentId,
    courierId: 'cour_1',
    deviceId: 'dev_1',
    outcome: 'confirmed',
    reason: null,
    codeGeneration: 1,
    attemptsRemaining: 4,
    deviceAt: new Date('2026-11-22T11:00:00.789Z'),
    receivedAt: new Date('2026-11-22T11:00:01.001Z'),
    location: { lat: 52.52, lng: 13.405 },
    requestId: 'req-1',
    ...extra,
  });
  const createdAt = async (id: string) =>
    (await h.pg.query<{ created_at: Date; updated_at: Date }>('SELECT created_at, updated_at FROM shipments WHERE id = $1', [id])).rows[0];

  describe.each([
    ['plain SQL (PostgreSQL)', 'pg', () => new PgShipmentLedger(dataSource, outbox)],
    ['TypeORM repositories (portable)', 'orm', () => new TypeOrmShipmentLedger(dataSource, outbox)],
  ] as const)('%s', (_name, tag, make) => {
    let ledger: ShipmentLedger;
    beforeAll(() => {
      ledger = make();
    });

    it('saves a new shipment, reads it back as saved, and replaces it keeping created_at', async () => {
      const id = `shp_${tag}_save`;
      const first = shipment(id, { merchantId: 'm_1', email: 'ana@example.com' });
      await ledger.transaction(id, { lock: true }, async (tx) => {
        expect(tx.shipment).toBeUndefined();
        await tx.save(first);
      });
      expect(await ledger.find(id)).toEqual(first);
      const before = await createdAt(id);

      const second = shipment(id, { courierId: 'cour_2', phone: null, codeGeneration: 2, windowEnd: new Date('2026-11-22T13:00:00.000Z') });
      await ledger.transaction(id, { lock: true }, async (tx) => {
        expect(tx.shipment).toEqual(first);
        await tx.save(second);
      });
      expect(await ledger.find(id)).toEqual(second);
      const after = await createdAt(id);
      expect(after?.created_at).toEqual(before?.created_at);
      expect(after!.updated_at.getTime()).toBeGreaterThanOrEqual(before!.updated_at.getTime());
    });

    it('records a handoff: the attempt, and the shipment handed off by its device at its device time', async () => {
      const id = `shp_${tag}_handoff`;
      await ledger.transaction(id, { lock: true }, (tx) => tx.save(shipment(id, { email: 'ana@example.com' })));
      const confirmed = attempt(id);
      const recorded = await ledger.transaction(id, { lock: false, load: false }, (tx) => tx.recordHandoff(confirmed));
      const expected = shipment(id, { email: 'ana@example.com', status: 'handed_off', handedOffAt: confirmed.deviceAt, handedOffDeviceId: 'dev_1' });
      expect(recorded).toEqual({ shipment: expected });
      expect(await ledger.find(id)).toEqual(expected);
      expect(await ledger.hasAttempt(confirmed.id)).toBe(true);
      const rows = await h.pg.query('SELECT * FROM handoff_attempts WHERE id = $1', [confirmed.id]);
      expect(rows.rows).toEqual([
        {
          id: confirmed.id,
          shipment_id: id,
          courier_id: 'cour_1',
          device_id: 'dev_1',
          outcome: 'confirmed',
          reason: null,
          code_generation: 1,
          attempts_remaining: 4,
          device_at: confirmed.deviceAt,
          received_at: confirmed.receivedAt,
          location: { lat: 52.52, lng: 13.405 },
          request_id: 'req-1',
        },
      ]);

      // The repair of the same attempt finds it recorded: nothing changes.
      const again = await ledger.transaction(id, { lock: false, load: false }, (tx) =>
        tx.recordHandoff({ ...confirmed, deviceId: 'dev_2', deviceAt: new Date() }, { unlessRecorded: true }),
      );
      expect(again).toBe(false);
      expect(await ledger.find(id)).toEqual(expected);
    });

    it('never replaces a handed-off shipment, even one handed off after the unit of work read it', async () => {
      const id = `shp_${tag}_final`;
      await ledger.transaction(id, { lock: true }, (tx) => tx.save(shipment(id)));
      const confirmed = attempt(id);
      const handedOff = shipment(id, { status: 'handed_off', handedOffAt: confirmed.deviceAt, handedOffDeviceId: 'dev_1' });
      await expect(
        ledger.transaction(id, { lock: true }, async (tx) => {
          expect(tx.shipment?.status).toBe('awaiting_handoff');
          // Handed off meanwhile by a unit of work that does not wait for this one.
          await dataSource.transaction((other) => other.query(`UPDATE shipments SET status = 'handed_off', handed_off_at = $2, handed_off_device_id = 'dev_1' WHERE id = $1`, [id, confirmed.deviceAt]));
          await tx.save(shipment(id, { courierId: 'cour_2', windowEnd: new Date('2026-11-22T15:00:00.000Z') }));
        }),
      ).rejects.toMatchObject({ code: 'already_handed_off', status: 409 });
      expect(await ledger.find(id)).toEqual(handedOff);
      await expect(ledger.transaction(id, { lock: true }, (tx) => tx.save(shipment(id, { status: 'cancelled' })))).rejects.toMatchObject({ code: 'already_handed_off' });
      expect(await ledger.find(id)).toEqual(handedOff);
    });

    it('records the repair of a handoff whose record did not commit, and a handoff of a shipment it does not know', async () => {
      const id = `shp_${tag}_repair`;
      await ledger.transaction(id, { lock: true }, (tx) => tx.save(shipment(id)));
      const repaired = attempt(id, { location: null, requestId: null, attemptsRemaining: null });
      const recorded = await ledger.transaction(id, { lock: false, load: false }, (tx) => tx.recordHandoff(repaired, { unlessRecorded: true }));
      expect(recorded).toEqual({ shipment: shipment(id, { status: 'handed_off', handedOffAt: repaired.deviceAt, handedOffDeviceId: 'dev_1' }) });

      const unknown = attempt(`shp_${tag}_unknown`);
      expect(await ledger.transaction(unknown.shipmentId, { lock: false, load: false }, (tx) => tx.recordHandoff(unknown))).toEqual({ shipment: undefined });
      expect(await ledger.hasAttempt(unknown.id)).toBe(true);
    });

    it("mirrors a wrong code's attempts and lock on the row: only for the row's code, never lowered", async () => {
      const id = `shp_${tag}_mirror`;
      await ledger.transaction(id, { lock: true }, (tx) => tx.save(shipment(id, { codeGeneration: 2 })));
      const mirror = (generation: number, attempts: number, locked: boolean) =>
        ledger.transaction(id, { lock: true, load: false }, (tx) => tx.mirrorHandoffState({ shipmentId: id, generation, attempts, locked }));
      await mirror(2, 3, false);
      expect(await ledger.find(id)).toEqual(shipment(id, { codeGeneration: 2, handoffAttempts: 3 }));
      // An earlier attempt committing late lowers nothing.
      await mirror(2, 2, false);
      await mirror(2, 5, true);
      await mirror(2, 4, false);
      const locked = shipment(id, { codeGeneration: 2, handoffAttempts: 5, handoffLocked: true });
      expect(await ledger.find(id)).toEqual(locked);

      // Another generation's attempt (a code replaced meanwhile) changes nothing; nor does a shipment no longer awaiting a handoff.
      await ledger.transaction(id, { lock: true }, (tx) => tx.save(shipment(id, { codeGeneration: 3 })));
      await mirror(2, 5, true);
      expect(await ledger.find(id)).toEqual(shipment(id, { codeGeneration: 3 }));
      await ledger.transaction(id, { lock: true }, (tx) => tx.save(shipment(id, { codeGeneration: 3, status: 'cancelled' })));
      await mirror(3, 1, false);
      expect(await ledger.find(id)).toEqual(shipment(id, { codeGeneration: 3, status: 'cancelled' }));
      // A shipment it does not know: nothing written, no error.
      const none = `shp_${tag}_mirror_none`;
      await ledger.transaction(none, { lock: true, load: false }, (tx) => tx.mirrorHandoffState({ shipmentId: none, generation: 1, attempts: 1, locked: false }));
      expect(await ledger.find(none)).toBeUndefined();
    });

    it('records refusals, once per attempt id when asked, and rolls everything back when the work fails', async () => {
      const id = `shp_${tag}_refusals`;
      const refusal = attempt(id, { outcome: 'code_mismatch', attemptsRemaining: 3 });
      expect(await ledger.transaction(id, { lock: false, load: false }, (tx) => tx.recordAttempt(refusal))).toBe(true);
      expect(await ledger.transaction(id, { lock: false, load: false }, (tx) => tx.recordAttempt(refusal, { unlessRecorded: true }))).toBe(false);

      const lost = attempt(id);
      await expect(
        ledger.transaction(id, { lock: true }, async (tx) => {
          await tx.save(shipment(id));
          await tx.recordAttempt(lost);
          throw new DomainError('conflict', 'work failed');
        }),
      ).rejects.toMatchObject({ code: 'conflict' });
      expect(await ledger.find(id)).toBeUndefined();
      expect(await ledger.hasAttempt(lost.id)).toBe(false);
    });
  });

  it('serialises locked units of work on one shipment, even before its row exists (PostgreSQL)', async () => {
    const ledger = new PgShipmentLedger(dataSource, outbox);
    const id = 'shp_pg_lock';
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const firstIn = new Promise<void>((r) => (entered = r));
    const first = ledger.transaction(id, { lock: true }, async (tx) => {
      order.push(`first saw ${tx.shipment ? 'a row' : 'none'}`);
      entered();
      await held;
      await tx.save(shipment(id));
      order.push('first saved');
    });
    await firstIn;
    const second = ledger.transaction(id, { lock: true }, async (tx) => {
      order.push(`second saw ${tx.shipment ? 'a row' : 'none'}`);
    });
    await new Promise((r) => setTimeout(r, 300));
    order.push('released');
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first saw none', 'released', 'first saved', 'second saw a row']);
  });
});
