import {
  type Channel,
  type EventContract,
  notificationDeliveredV1,
  notificationDroppedV1,
  notificationFailedV1,
  notificationSentV1,
  type Priority,
} from '@phonegate/contracts';
import type { Outbox } from '@phonegate/messaging';
import { type DataSource, type EntityManager, In } from 'typeorm';
import { MessageEventRecord } from './message-event.entity';
import { type MessageStatus, MessageRecord } from './message.entity';
import {
  type AttemptStep,
  type InsertResult,
  MessageLog,
  type MessageView,
  type NewMessage,
  type PublishWith,
  type ReceiptResult,
  type TimelineEntry,
} from './message-log';

export type OutboxWriter = Pick<Outbox, 'add'>;

const SENDABLE: MessageStatus[] = ['queued', 'sending'];
const RECEIPTABLE: MessageStatus[] = ['sending', 'sent'];
const OUTCOME: Record<'sent' | 'delivered' | 'failed' | 'dropped', EventContract> = {
  sent: notificationSentV1,
  delivered: notificationDeliveredV1,
  failed: notificationFailedV1,
  dropped: notificationDroppedV1,
};

/** The message log on TypeORM (PostgreSQL; portable query builder calls only). */
export class TypeOrmMessageLog extends MessageLog {
  constructor(
    protected readonly dataSource: DataSource,
    protected readonly outbox: OutboxWriter,
  ) {
    super();
  }

  async find(id: string): Promise<MessageView | undefined> {
    const row = await this.dataSource.getRepository(MessageRecord).findOneBy({ id });
    return row ? toView(row) : undefined;
  }

  async statusOf(id: string): Promise<{ status: MessageStatus; attempts: number } | undefined> {
    const row = await this.dataSource
      .getRepository(MessageRecord)
      .findOne({ where: { id }, select: { status: true, attempts: true } });
    return row ? { status: row.status, attempts: row.attempts } : undefined;
  }

  async insertSending(message: NewMessage, at: Date): Promise<InsertResult> {
    const result = await this.insertQueued(message, at);
    if (result === 'inserted') await this.markSending(message.id, at);
    return result;
  }

  async findWithTimeline(
    id: string,
  ): Promise<{ message: MessageView; timeline: TimelineEntry[] } | undefined> {
    return this.dataSource.transaction('REPEATABLE READ', async (m) => {
      const row = await m.getRepository(MessageRecord).findOneBy({ id });
      if (!row) return undefined;
      return { message: toView(row), timeline: await this.timelineIn(m, id) };
    });
  }

  async timeline(id: string): Promise<TimelineEntry[]> {
    return this.timelineIn(this.dataSource.manager, id);
  }

  private async timelineIn(m: EntityManager, id: string): Promise<TimelineEntry[]> {
    const rows = await m
      .getRepository(MessageEventRecord)
      .find({ where: { messageId: id }, order: { id: 'ASC' } });
    return rows.map((r) => ({
      status: r.status,
      at: r.at,
      ...(r.carrier ? { carrier: r.carrier } : {}),
      ...(r.reason ? { reason: r.reason } : {}),
    }));
  }

  insertQueued(message: NewMessage, at: Date, publish?: PublishWith): Promise<InsertResult> {
    return this.dataSource.transaction(async (m) => {
      const result = await this.insertRow(m, message, 'queued', at);
      if (result !== 'inserted') return result;
      await this.addEvents(m, message.id, [{ status: 'queued', at: message.requestedAt }]);
      if (publish) await this.outbox.add(m, publish.contract, publish.data);
      return result;
    });
  }

  insertDropped(message: NewMessage, at: Date, reason: string): Promise<InsertResult> {
    return this.dataSource.transaction(async (m) => {
      const result = await this.insertRow(m, message, 'dropped', at, reason);
      if (result !== 'inserted') return result;
      await this.addEvents(m, message.id, [
        { status: 'queued', at: message.requestedAt },
        { status: 'dropped', at, reason },
      ]);
      await this.emit(m, 'dropped', { ...rowLike(message), attempts: 0, carrier: null }, reason);
      return result;
    });
  }

  async markSending(id: string, at: Date): Promise<number | undefined> {
    return this.dataSource.transaction(async (m) => {
      const updated = await m
        .createQueryBuilder()
        .update(MessageRecord)
        .set({ status: 'sending', attempts: () => 'attempts + 1', updatedAt: at })
        .where({ id, status: In(SENDABLE) })
        .execute();
      if (!updated.affected) return undefined;
      await this.addEvents(m, id, [{ status: 'sending', at }]);
      const row = await m
        .getRepository(MessageRecord)
        .findOne({ where: { id }, select: { id: true, attempts: true } });
      return row?.attempts;
    });
  }

  async recordAttemptFailed(
    id: string,
    at: Date,
    reason: string,
    steps: readonly AttemptStep[],
  ): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      await m.update(MessageRecord, { id }, { reason: clip(reason), updatedAt: at });
      if (!steps.length) return;
      await this.addEvents(
        m,
        id,
        steps.map((step) => ({ status: 'sending', at, ...step })),
      );
    });
  }

  recordLateAcceptance(
    id: string,
    at: Date,
    carrier: string,
    reason: string,
    providerMessageId?: string,
  ): Promise<boolean> {
    return this.dataSource.transaction(async (m) => {
      const updated = await m
        .createQueryBuilder()
        .update(MessageRecord)
        .set({ attempts: () => 'attempts + 1', updatedAt: at })
        .where({ id })
        .execute();
      if (!updated.affected) return false;
      await this.addEvents(m, id, [{ status: 'sent', at, carrier, reason }], providerMessageId);
      return true;
    });
  }

  applyLateCopyReceipt(
    carrier: string,
    providerMessageId: string,
    status: 'delivered' | 'failed',
    at: Date,
    reason?: string,
  ): Promise<ReceiptResult> {
    return this.dataSource.transaction(async (m) => {
      const events = m.getRepository(MessageEventRecord);
      const late = await events.findOne({
        where: { carrier, providerMessageId, status: 'sent' },
        select: { messageId: true },
      });
      if (!late) return { applied: false, why: 'unknown' };
      // Copies of one receipt arrive together: the message's row is locked before the check, so
      // one copy checks and writes while the others wait, then find its step.
      if (this.dataSource.driver.options.type === 'postgres')
        await m
          .createQueryBuilder(MessageRecord, 'message')
          .select('message.id')
          .setLock('pessimistic_write')
          .where({ id: late.messageId })
          .getOne();
      const final = await events.exists({
        where: { carrier, providerMessageId, status: In(['delivered', 'failed']) },
      });
      if (final) return { applied: false, why: 'already_final' };
      await m.update(MessageRecord, { id: late.messageId }, { updatedAt: at });
      const what = `late copy (carrier message id ${providerMessageId}): ${reason ?? status}`;
      await this.addEvents(
        m,
        late.messageId,
        [{ status, at, carrier, reason: what }],
        providerMessageId,
      );
      return { applied: true, messageId: late.messageId };
    });
  }

  recordSent(
    id: string,
    at: Date,
    carrier: string,
    providerMessageId: string,
    reason?: string,
  ): Promise<boolean> {
    return this.dataSource.transaction(async (m) => {
      const updated = await m
        .createQueryBuilder()
        .update(MessageRecord)
        .set({ status: 'sent', carrier, providerMessageId, reason: null, updatedAt: at })
        .where({ id, status: In(SENDABLE) })
        .execute();
      if (!updated.affected) return false;
      await this.addEvents(m, id, [{ status: 'sent', at, carrier, ...(reason ? { reason } : {}) }]);
      const row = await m.getRepository(MessageRecord).findOneByOrFail({ id });
      await this.emit(m, 'sent', row);
      return true;
    });
  }

  recordFinal(
    id: string,
    at: Date,
    status: 'failed' | 'dropped',
    reason: string,
    carrier?: string,
  ): Promise<boolean> {
    return this.dataSource.transaction(async (m) => {
      const updated = await m
        .createQueryBuilder()
        .update(MessageRecord)
        .set({ status, reason: clip(reason), updatedAt: at, ...(carrier ? { carrier } : {}) })
        .where({ id, status: In(SENDABLE) })
        .execute();
      if (!updated.affected) return false;
      await this.addEvents(m, id, [{ status, at, reason, ...(carrier ? { carrier } : {}) }]);
      const row = await m.getRepository(MessageRecord).findOneByOrFail({ id });
      await this.emit(m, status, row, reason);
      return true;
    });
  }

  applyReceipt(
    carrier: string,
    providerMessageId: string,
    status: 'delivered' | 'failed',
    at: Date,
    reason?: string,
  ): Promise<ReceiptResult> {
    return this.dataSource.transaction(async (m) => {
      const row = await m.getRepository(MessageRecord).findOneBy({ carrier, providerMessageId });
      if (!row) return { applied: false, why: 'unknown' };
      const updated = await m
        .createQueryBuilder()
        .update(MessageRecord)
        .set({ status, updatedAt: at, ...(reason ? { reason: clip(reason) } : {}) })
        .where({ id: row.id, status: In(RECEIPTABLE) })
        .execute();
      if (!updated.affected) return { applied: false, why: 'already_final' };
      await this.addEvents(m, row.id, [{ status, at, carrier, ...(reason ? { reason } : {}) }]);
      const fresh = { ...row, status, ...(reason ? { reason: clip(reason) } : {}) };
      await this.emit(m, status, fresh, reason);
      return {
        applied: true,
        messageId: fresh.id,
        message: { priority: fresh.priority as Priority, channel: fresh.channel as Channel },
      };
    });
  }

  private async insertRow(
    m: EntityManager,
    message: NewMessage,
    status: MessageStatus,
    at: Date,
    reason?: string,
  ): Promise<InsertResult> {
    const repo = m.getRepository(MessageRecord);
    const postgres = this.dataSource.options.type === 'postgres';
    // Without RETURNING (embedded SQLite) an existing id is found first.
    if (!postgres && (await repo.exists({ where: { id: message.id } }))) return 'exists';
    const qb = m
      .createQueryBuilder()
      .insert()
      .into(MessageRecord)
      .values({
        ...rowLike(message),
        status,
        attempts: 0,
        carrier: null,
        providerMessageId: null,
        reason: reason ? clip(reason) : null,
        createdAt: at,
        updatedAt: at,
      })
      .orIgnore();
    if (postgres) {
      // ON CONFLICT DO NOTHING RETURNING answers no row when the id or the dedupeKey is taken.
      const result = await qb.returning(['id']).execute();
      if (Array.isArray(result.raw) && result.raw.length > 0) return 'inserted';
    } else {
      await qb.execute();
      if (await repo.exists({ where: { id: message.id } })) return 'inserted';
    }
    return (await repo.exists({ where: { id: message.id } })) ? 'exists' : 'duplicate';
  }

  protected async addEvents(
    m: EntityManager,
    messageId: string,
    entries: TimelineEntry[],
    providerMessageId?: string,
  ): Promise<void> {
    await m
      .createQueryBuilder()
      .insert()
      .into(MessageEventRecord)
      .values(
        entries.map((e) => ({
          messageId,
          status: e.status,
          at: e.at,
          carrier: e.carrier ?? null,
          reason: e.reason ? clip(e.reason) : null,
          providerMessageId: providerMessageId ?? null,
        })),
      )
      .execute();
  }

  protected async emit(
    m: EntityManager,
    outcome: keyof typeof OUTCOME,
    row: Pick<
      MessageRecord,
      'id' | 'channel' | 'carrier' | 'attempts' | 'originService' | 'originRef'
    >,
    reason?: string,
  ): Promise<void> {
    await this.outbox.add(m, OUTCOME[outcome], {
      messageId: row.id,
      channel: row.channel,
      carrier: row.carrier,
      attempts: row.attempts,
      ...(reason ? { reason: clip(reason) } : {}),
      ...(row.originService
        ? {
            origin: {
              service: row.originService,
              ...(row.originRef ? { ref: row.originRef } : {}),
            },
          }
        : {}),
    });
  }
}

function rowLike(message: NewMessage) {
  return {
    id: message.id,
    dedupeKey: message.dedupeKey ?? null,
    priority: message.priority,
    channel: message.channel,
    template: message.template,
    locale: message.locale,
    accountId: message.accountId ?? null,
    destinationMasked: message.destinationMasked ?? null,
    destinationHash: message.destinationHash ?? null,
    subject: message.subject ?? null,
    body: message.body,
    segments: message.segments ?? null,
    encoding: message.encoding ?? null,
    notAfter: message.notAfter ?? null,
    requestedAt: message.requestedAt,
    originService: message.origin?.service ?? null,
    originRef: message.origin?.ref ?? null,
  };
}

function toView(row: MessageRecord): MessageView {
  return {
    id: row.id,
    priority: row.priority as MessageView['priority'],
    channel: row.channel as MessageView['channel'],
    template: row.template,
    locale: row.locale,
    accountId: row.accountId,
    destinationMasked: row.destinationMasked,
    subject: row.subject,
    body: row.body,
    segments: row.segments,
    encoding: row.encoding,
    status: row.status,
    carrier: row.carrier,
    providerMessageId: row.providerMessageId,
    attempts: row.attempts,
    reason: row.reason,
    notAfter: row.notAfter,
    requestedAt: row.requestedAt,
    origin: row.originService
      ? { service: row.originService, ...(row.originRef ? { ref: row.originRef } : {}) }
      : null,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}
