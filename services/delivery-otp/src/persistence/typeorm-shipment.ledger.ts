import type { EventContract, EventData } from '@phonegate/contracts';
import { DomainError, type Logger } from '@phonegate/platform';
import type { DataSource, EntityManager } from 'typeorm';
import { HandoffAttemptEntity } from './handoff-attempt.entity';
import type { OutboxWriter } from './outbox.port';
import { ShipmentEntity } from './shipment.entity';
import { type AttemptRecord, ShipmentLedger, type ShipmentRecord, type ShipmentTx } from './shipment.ledger';

/**
 * Shipments and handoff attempts in PostgreSQL (or sql.js in embedded mode),
 * with events through the transactional outbox. A database failure becomes 503.
 */
export class TypeOrmShipmentLedger extends ShipmentLedger {
  constructor(
    private readonly dataSource: DataSource,
    private readonly outbox: OutboxWriter,
    private readonly logger?: Logger,
  ) {
    super();
  }

  async find(shipmentId: string): Promise<ShipmentRecord | undefined> {
    const row = await this.guard(() => this.dataSource.getRepository(ShipmentEntity).findOneBy({ id: shipmentId }));
    return row ? toRecord(row) : undefined;
  }

  async hasAttempt(attemptId: string): Promise<boolean> {
    return this.guard(() => this.dataSource.getRepository(HandoffAttemptEntity).existsBy({ id: attemptId }));
  }

  transaction<T>(shipmentId: string, options: { lock: boolean; load?: boolean }, work: (tx: ShipmentTx) => Promise<T>): Promise<T> {
    return this.guard(() =>
      this.dataSource.transaction(async (manager) => {
        if (options.lock && this.dataSource.options.type === 'postgres') {
          // Serialises work on one shipment even before its row exists.
          await manager.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7357))', [`shipment:${shipmentId}`]);
        }
        const row = options.load === false ? null : await manager.getRepository(ShipmentEntity).findOneBy({ id: shipmentId });
        return work(new Tx(manager, this.outbox, row ? toRecord(row) : undefined));
      }),
    );
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof DomainError) throw error;
      this.logger?.error({ err: error }, 'database failed');
      throw new DomainError('service_unavailable', 'The database is unavailable; try again shortly.', { retryAfter: 1 }, true);
    }
  }
}

class Tx implements ShipmentTx {
  constructor(
    private readonly manager: EntityManager,
    private readonly outbox: OutboxWriter,
    readonly shipment: ShipmentRecord | undefined,
  ) {}

  async save(record: ShipmentRecord): Promise<void> {
    const now = new Date();
    const repo = this.manager.getRepository(ShipmentEntity);
    await repo.save(repo.create({ ...record, createdAt: this.shipment ? undefined : now, updatedAt: now }));
  }

  async update(shipmentId: string, patch: Partial<Omit<ShipmentRecord, 'id'>>): Promise<ShipmentRecord | undefined> {
    const set = { ...patch, updatedAt: new Date() };
    if (this.manager.connection.options.type === 'postgres') {
      // One round trip on the hot path (handoff): update and read back together.
      const result = await this.manager.createQueryBuilder().update(ShipmentEntity).set(set).where('id = :id', { id: shipmentId }).returning('*').execute();
      const raw = (result.raw as Record<string, unknown>[])[0];
      return raw ? toRecord(this.manager.create(ShipmentEntity, fromRaw(raw))) : undefined;
    }
    const repo = this.manager.getRepository(ShipmentEntity);
    await repo.update({ id: shipmentId }, set);
    const row = await repo.findOneBy({ id: shipmentId });
    return row ? toRecord(row) : undefined;
  }

  async recordAttempt(attempt: AttemptRecord, options: { unlessRecorded?: boolean } = {}): Promise<boolean> {
    const repo = this.manager.getRepository(HandoffAttemptEntity);
    if (options.unlessRecorded && (await repo.existsBy({ id: attempt.id }))) return false;
    await repo.insert(attempt);
    return true;
  }

  async publish<C extends EventContract>(contract: C, data: EventData<C>): Promise<void> {
    await this.outbox.add(this.manager, contract, data);
  }
}

/** A raw `RETURNING *` row (column names) to entity properties. */
function fromRaw(raw: Record<string, unknown>): Partial<ShipmentEntity> {
  const date = (v: unknown) => (v instanceof Date ? v : typeof v === 'string' || typeof v === 'number' ? new Date(v) : null);
  return {
    id: raw['id'] as string,
    orderId: raw['order_id'] as string,
    accountId: raw['account_id'] as string,
    merchantId: (raw['merchant_id'] as string | null) ?? null,
    courierId: raw['courier_id'] as string,
    phone: (raw['phone'] as string | null) ?? null,
    email: (raw['email'] as string | null) ?? null,
    locale: raw['locale'] as string,
    windowStart: date(raw['window_start']) as Date,
    windowEnd: date(raw['window_end']) as Date,
    expiresAt: date(raw['expires_at']) as Date,
    status: raw['status'] as ShipmentEntity['status'],
    codeGeneration: Number(raw['code_generation']),
    handedOffAt: date(raw['handed_off_at']),
    handedOffDeviceId: (raw['handed_off_device_id'] as string | null) ?? null,
  };
}

function toRecord(row: ShipmentEntity): ShipmentRecord {
  return {
    id: row.id,
    orderId: row.orderId,
    accountId: row.accountId,
    merchantId: row.merchantId,
    courierId: row.courierId,
    phone: row.phone,
    email: row.email,
    locale: row.locale,
    windowStart: row.windowStart,
    windowEnd: row.windowEnd,
    expiresAt: row.expiresAt,
    status: row.status,
    codeGeneration: row.codeGeneration,
    handedOffAt: row.handedOffAt,
    handedOffDeviceId: row.handedOffDeviceId,
  };
}
