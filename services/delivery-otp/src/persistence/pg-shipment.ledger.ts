import type { EntityManager } from 'typeorm';
import type { ShipmentStatus } from './shipment.entity';
import { type AttemptRecord, alreadyHandedOff, type HandoffState, type MirroredRow, type ShipmentRecord, type ShipmentTx } from './shipment.ledger';
import { TypeOrmShipmentLedger, TypeOrmShipmentTx } from './typeorm-shipment.ledger';

/** ShipmentRecord fields and their columns; the statements' parameters follow this order. */
const SHIPMENT_COLUMNS = {
  id: 'id',
  orderId: 'order_id',
  accountId: 'account_id',
  merchantId: 'merchant_id',
  courierId: 'courier_id',
  phone: 'phone',
  email: 'email',
  locale: 'locale',
  windowStart: 'window_start',
  windowEnd: 'window_end',
  expiresAt: 'expires_at',
  status: 'status',
  codeGeneration: 'code_generation',
  handedOffAt: 'handed_off_at',
  handedOffDeviceId: 'handed_off_device_id',
  handoffAttempts: 'handoff_attempts',
  handoffLocked: 'handoff_locked',
  regenerations: 'regenerations',
  lastCodeSentAt: 'last_code_sent_at',
} as const satisfies Record<keyof ShipmentRecord, string>;

const ATTEMPT_COLUMNS = {
  id: 'id',
  shipmentId: 'shipment_id',
  courierId: 'courier_id',
  deviceId: 'device_id',
  outcome: 'outcome',
  reason: 'reason',
  codeGeneration: 'code_generation',
  attemptsRemaining: 'attempts_remaining',
  deviceAt: 'device_at',
  receivedAt: 'received_at',
  location: 'location',
  requestId: 'request_id',
} as const satisfies Record<keyof AttemptRecord, string>;

const SHIPMENT_FIELDS = Object.keys(SHIPMENT_COLUMNS) as (keyof ShipmentRecord)[];
const ATTEMPT_FIELDS = Object.keys(ATTEMPT_COLUMNS) as (keyof AttemptRecord)[];
const quoted = (columns: Record<string, string>) => Object.values(columns).map((c) => `"${c}"`);
const params = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `$${i + from}`).join(', ');
/** The parameter of an attempt field in INSERT_ATTEMPT. */
const attemptParam = (field: keyof AttemptRecord) => `$${ATTEMPT_FIELDS.indexOf(field) + 1}`;

const SHIPMENT_SELECT = quoted(SHIPMENT_COLUMNS).join(', ');
const SELECT_SHIPMENT = `SELECT ${SHIPMENT_SELECT} FROM "shipments" WHERE "id" = $1`;
/**
 * Insert or replace (created_at kept): one statement, no read-back. A row
 * handed off is never replaced, whatever the caller read before: no row
 * comes back then.
 */
const UPSERT_SHIPMENT = `INSERT INTO "shipments" (${SHIPMENT_SELECT}, "created_at", "updated_at")
  VALUES (${params(SHIPMENT_FIELDS.length)}, $${SHIPMENT_FIELDS.length + 1}, $${SHIPMENT_FIELDS.length + 1})
  ON CONFLICT ("id") DO UPDATE SET ${[...quoted(SHIPMENT_COLUMNS).slice(1), '"updated_at"'].map((c) => `${c} = EXCLUDED.${c}`).join(', ')}
  WHERE "shipments"."status" <> 'handed_off'
  RETURNING "id"`;
const INSERT_ATTEMPT = `INSERT INTO "handoff_attempts" (${quoted(ATTEMPT_COLUMNS).join(', ')}) VALUES (${params(ATTEMPT_FIELDS.length)})`;
/** For the repair: an attempt id already recorded is left alone (and no row returned). */
const UNLESS_RECORDED = ' ON CONFLICT ("id") DO NOTHING';
const INSERT_ATTEMPT_UNLESS_RECORDED = `${INSERT_ATTEMPT}${UNLESS_RECORDED} RETURNING "id"`;
/**
 * A confirmed handoff in one statement: the attempt, then (only if it was
 * inserted) the shipment marked handed off; answers one row: whether the
 * attempt was recorded, and the shipment as updated (nulls if there is none).
 */
const handoffStatement = (unlessRecorded: boolean) => `WITH "attempt" AS (${INSERT_ATTEMPT}${unlessRecorded ? UNLESS_RECORDED : ''} RETURNING "id"),
  "shipment" AS (
    UPDATE "shipments" SET "status" = 'handed_off', "handed_off_at" = ${attemptParam('deviceAt')},
      "handed_off_device_id" = ${attemptParam('deviceId')}, "updated_at" = $${ATTEMPT_FIELDS.length + 1}
    WHERE "id" = ${attemptParam('shipmentId')} AND EXISTS (SELECT 1 FROM "attempt")
    RETURNING ${SHIPMENT_SELECT}
  )
  SELECT EXISTS (SELECT 1 FROM "attempt") AS "recorded", "shipment".* FROM (SELECT 1) AS "one" LEFT JOIN "shipment" ON true`;
/** mirrorHandoffState: only the row's own code, never lowered. */
/** …and, in the same statement, the row's generation, status and window end as they were. */
const MIRROR_HANDOFF_STATE = `WITH "mirrored" AS (
    UPDATE "shipments" SET "handoff_attempts" = GREATEST("handoff_attempts", $3),
      "handoff_locked" = "handoff_locked" OR $4, "updated_at" = $5
    WHERE "id" = $1 AND "code_generation" = $2 AND "status" = 'awaiting_handoff'
    RETURNING 1
  )
  SELECT "code_generation", "status", "window_end" FROM "shipments" WHERE "id" = $1`;
const RECORD_HANDOFF = handoffStatement(false);
const RECORD_HANDOFF_UNLESS_RECORDED = handoffStatement(true);

type Row = Record<string, unknown>;

/**
 * The ledger on PostgreSQL (also PGlite, the embedded mode's): the hot paths
 * (out for delivery, handoff) as plain parameterised SQL in the same TypeORM
 * transaction, so the outbox rows and the relay's commit hook stay as they
 * are; TypeORM's query building and entity hydration cost more CPU than the
 * statements. Out for delivery: lock, read, one upsert; a handoff: lock, one
 * statement for the attempt and the shipment. Everything else is inherited.
 */
export class PgShipmentLedger extends TypeOrmShipmentLedger {
  protected override async lock(manager: EntityManager, shipmentId: string): Promise<void> {
    await manager.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7357))', [`shipment:${shipmentId}`]);
  }

  protected override async load(manager: EntityManager, shipmentId: string): Promise<ShipmentRecord | undefined> {
    const rows = await manager.query<Row[]>(SELECT_SHIPMENT, [shipmentId]);
    return rows[0] ? shipmentFromRow(rows[0]) : undefined;
  }

  protected override unitOfWork(manager: EntityManager, shipment: ShipmentRecord | undefined): ShipmentTx {
    return new PgShipmentTx(manager, this.outbox, shipment);
  }
}

class PgShipmentTx extends TypeOrmShipmentTx {
  override async save(record: ShipmentRecord): Promise<void> {
    const rows = await this.manager.query<Row[]>(UPSERT_SHIPMENT, [...SHIPMENT_FIELDS.map((f) => record[f]), new Date()]);
    if (rows.length === 0) throw alreadyHandedOff();
  }

  override async recordAttempt(attempt: AttemptRecord, options: { unlessRecorded?: boolean } = {}): Promise<boolean> {
    if (!options.unlessRecorded) {
      await this.manager.query(INSERT_ATTEMPT, attemptValues(attempt));
      return true;
    }
    return (await this.manager.query<Row[]>(INSERT_ATTEMPT_UNLESS_RECORDED, attemptValues(attempt))).length > 0;
  }

  override async recordHandoff(attempt: AttemptRecord, options: { unlessRecorded?: boolean } = {}): Promise<false | { shipment: ShipmentRecord | undefined }> {
    const sql = options.unlessRecorded ? RECORD_HANDOFF_UNLESS_RECORDED : RECORD_HANDOFF;
    const [row] = await this.manager.query<Row[]>(sql, [...attemptValues(attempt), new Date()]);
    if (!row?.['recorded']) return false;
    return { shipment: row['id'] === null || row['id'] === undefined ? undefined : shipmentFromRow(row) };
  }

  override async mirrorHandoffState(state: HandoffState): Promise<MirroredRow | undefined> {
    const [row] = await this.manager.query<Row[]>(MIRROR_HANDOFF_STATE, [state.shipmentId, state.generation, state.attempts, state.locked, new Date()]);
    if (!row) return undefined;
    const windowEnd = row['window_end'];
    return {
      generation: Number(row['code_generation']),
      status: row['status'] as ShipmentStatus,
      windowEnd: windowEnd instanceof Date ? windowEnd : new Date(windowEnd as string),
    };
  }
}

function attemptValues(attempt: AttemptRecord): unknown[] {
  return ATTEMPT_FIELDS.map((f) => (f === 'location' ? (attempt.location ? JSON.stringify(attempt.location) : null) : attempt[f]));
}

/** A row of SELECT_SHIPMENT (column names) to a record. */
function shipmentFromRow(row: Row): ShipmentRecord {
  const date = (v: unknown) => (v instanceof Date ? v : new Date(v as string));
  const orNull = (v: unknown) => (v === null || v === undefined ? null : (v as string));
  return {
    id: row['id'] as string,
    orderId: row['order_id'] as string,
    accountId: row['account_id'] as string,
    merchantId: orNull(row['merchant_id']),
    courierId: row['courier_id'] as string,
    phone: orNull(row['phone']),
    email: orNull(row['email']),
    locale: row['locale'] as string,
    windowStart: date(row['window_start']),
    windowEnd: date(row['window_end']),
    expiresAt: date(row['expires_at']),
    status: row['status'] as ShipmentStatus,
    codeGeneration: Number(row['code_generation']),
    handedOffAt: row['handed_off_at'] === null || row['handed_off_at'] === undefined ? null : date(row['handed_off_at']),
    handedOffDeviceId: orNull(row['handed_off_device_id']),
    handoffAttempts: Number(row['handoff_attempts'] ?? 0),
    handoffLocked: row['handoff_locked'] === true || row['handoff_locked'] === 1,
    regenerations: Number(row['regenerations'] ?? 0),
    lastCodeSentAt: row['last_code_sent_at'] === null || row['last_code_sent_at'] === undefined ? null : date(row['last_code_sent_at']),
  };
}
