import type { EventContract, EventData } from '@phonegate/contracts';
import { DomainError, type Logger } from '@phonegate/platform';
import type { DataSource, EntityManager } from 'typeorm';
import { HandoffAttemptEntity } from './handoff-attempt.entity';
import type { OutboxWriter } from './outbox.port';
import { ShipmentEntity } from './shipment.entity';
import { type AttemptRecord, alreadyHandedOff, type HandoffState, type MirroredRow, ShipmentLedger, type ShipmentRecord, type ShipmentTx } from './shipment.ledger';

/**
 * Shipments and handoff attempts through TypeORM's repositories, with events
 * through the transactional outbox; portable (any TypeORM driver). On
 * PostgreSQL, PgShipmentLedger replaces the hot statements with plain SQL and
 * adds the per-shipment lock. A database failure becomes 503.
 */
export class TypeOrmShipmentLedger extends ShipmentLedger {
  constructor(
    protected readonly dataSource: DataSource,
    protected readonly outbox: OutboxWriter,
    private readonly logger?: Logger,
  ) {
    super();
  }

  find(shipmentId: string): Promise<ShipmentRecord | undefined> {
    return this.guard(() => this.load(this.dataSource.manager, shipmentId));
  }

  hasAttempt(attemptId: string): Promise<boolean> {
    return this.guard(() => this.dataSource.getRepository(HandoffAttemptEntity).existsBy({ id: attemptId }));
  }

  transaction<T>(shipmentId: string, options: { lock: boolean; load?: boolean }, work: (tx: ShipmentTx) => Promise<T>): Promise<T> {
    return this.guard(() =>
      this.dataSource.transaction(async (manager) => {
        if (options.lock) await this.lock(manager, shipmentId);
        const shipment = options.load === false ? undefined : await this.load(manager, shipmentId);
        return work(this.unitOfWork(manager, shipment));
      }),
    );
  }

  /** Serialises units of work on one shipment, even before its row exists. None here (sql.js has a single connection). */
  protected async lock(_manager: EntityManager, _shipmentId: string): Promise<void> {}

  protected async load(manager: EntityManager, shipmentId: string): Promise<ShipmentRecord | undefined> {
    const row = await manager.getRepository(ShipmentEntity).findOneBy({ id: shipmentId });
    return row ? toRecord(row) : undefined;
  }

  protected unitOfWork(manager: EntityManager, shipment: ShipmentRecord | undefined): ShipmentTx {
    return new TypeOrmShipmentTx(manager, this.outbox, shipment);
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

export class TypeOrmShipmentTx implements ShipmentTx {
  constructor(
    protected readonly manager: EntityManager,
    private readonly outbox: OutboxWriter,
    readonly shipment: ShipmentRecord | undefined,
  ) {}

  async save(record: ShipmentRecord): Promise<void> {
    const now = new Date();
    const repo = this.manager.getRepository(ShipmentEntity);
    const current = await repo.findOne({ where: { id: record.id }, select: { id: true, status: true } });
    if (current?.status === 'handed_off') throw alreadyHandedOff();
    await repo.save(repo.create({ ...record, createdAt: this.shipment ? undefined : now, updatedAt: now }));
  }

  hasAttempt(attemptId: string): Promise<boolean> {
    return this.manager.getRepository(HandoffAttemptEntity).existsBy({ id: attemptId });
  }

  async recordAttempt(attempt: AttemptRecord, options: { unlessRecorded?: boolean } = {}): Promise<boolean> {
    const repo = this.manager.getRepository(HandoffAttemptEntity);
    if (options.unlessRecorded && (await repo.existsBy({ id: attempt.id }))) return false;
    await repo.insert(attempt);
    return true;
  }

  async recordHandoff(attempt: AttemptRecord, options: { unlessRecorded?: boolean } = {}): Promise<false | { shipment: ShipmentRecord | undefined }> {
    if (!(await this.recordAttempt(attempt, options))) return false;
    const repo = this.manager.getRepository(ShipmentEntity);
    const id = attempt.shipmentId;
    await repo.update({ id }, { status: 'handed_off', handedOffAt: attempt.deviceAt, handedOffDeviceId: attempt.deviceId, updatedAt: new Date() });
    const row = await repo.findOneBy({ id });
    return { shipment: row ? toRecord(row) : undefined };
  }

  async mirrorHandoffState(state: HandoffState): Promise<MirroredRow | undefined> {
    const repo = this.manager.getRepository(ShipmentEntity);
    const row = await repo.findOne({
      where: { id: state.shipmentId },
      select: { id: true, codeGeneration: true, status: true, windowEnd: true, handoffAttempts: true, handoffLocked: true },
    });
    if (!row) return undefined;
    const seen: MirroredRow = { generation: row.codeGeneration, status: row.status, windowEnd: row.windowEnd };
    if (row.codeGeneration !== state.generation || row.status !== 'awaiting_handoff') return seen;
    const handoffAttempts = Math.max(row.handoffAttempts, state.attempts);
    const handoffLocked = Boolean(row.handoffLocked) || state.locked;
    const where = { id: state.shipmentId, codeGeneration: state.generation, status: 'awaiting_handoff' as const };
    await repo.update(where, { handoffAttempts, handoffLocked, updatedAt: new Date() });
    return seen;
  }

  async publish<C extends EventContract>(contract: C, data: EventData<C>): Promise<void> {
    await this.outbox.add(this.manager, contract, data);
  }
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
    handoffAttempts: row.handoffAttempts,
    handoffLocked: Boolean(row.handoffLocked),
    regenerations: row.regenerations,
    lastCodeSentAt: row.lastCodeSentAt,
  };
}
