import { randomInt, randomUUID } from 'node:crypto';
import { Controller, type INestMicroservice, Module } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { defineEvent, type EventData, notificationRequestedV1, phoneAddedV1 } from '@phonegate/contracts';
import { DomainError } from '@phonegate/platform';
import {
  createTestVhost,
  dropRedisPrefix,
  eventually,
  redisPrefix,
  TEST_INFRA,
  type TestVhost,
} from '@phonegate/platform/testing';
import type * as amqp from 'amqplib';
import Redis from 'ioredis';
import { Bus } from '../../src/bus';
import { OnEvent } from '../../src/bus.decorators';
import { FAILURE_HEADERS } from '../../src/event-consumer';
import { capturedLogger, startMicroservice, testKeys } from '../support/fixtures';
import { createOutboxDatabase, type OutboxDatabase } from '../support/outbox-database';
import { drainQueue, rawConnection } from '../support/rabbit';

jest.setTimeout(30_000);

/**
 * SECURITY L1: a full phone number is never at rest on the bus in clear, neither
 * in the publisher's outbox rows nor in a queue nor in a DLQ; consumers still get it.
 */

type PhoneAdded = EventData<typeof phoneAddedV1>;
type NotificationRequested = EventData<typeof notificationRequestedV1>;

const received = { added: [] as PhoneAdded[], requested: [] as NotificationRequested[] };
const receivedByLegacy: PhoneAdded[] = [];

/** Takes every message, then refuses it for good: the copies end in the DLQ. */
@Controller()
class RefusingConsumer {
  @OnEvent(phoneAddedV1)
  onAdded(@Payload() data: PhoneAdded) {
    received.added.push(data);
    throw new DomainError('conflict', 'refused by the test consumer');
  }

  @OnEvent(notificationRequestedV1)
  onRequested(@Payload() data: NotificationRequested) {
    received.requested.push(data);
    throw new DomainError('conflict', 'refused by the test consumer');
  }
}

@Module({ controllers: [RefusingConsumer] })
class RefusingModule {}

/** identity.phone.added.v1 as the previous release defined it: `e164` not sensitive. */
const previousPhoneAddedV1 = defineEvent({
  type: phoneAddedV1.type,
  schema: phoneAddedV1.schema,
  example: phoneAddedV1.example,
});

/** A consumer built on the previous contracts (a rolling upgrade). */
@Controller()
class LegacyConsumer {
  @OnEvent(phoneAddedV1)
  onAdded(@Payload() data: PhoneAdded) {
    receivedByLegacy.push(data);
  }
}

@Module({ controllers: [LegacyConsumer] })
class LegacyModule {}

/** A fresh number for each case, so one case's clear copy cannot hide another's. */
function phoneNumber(): { e164: string; digits: string } {
  const digits = `4915${String(randomInt(10_000_000, 99_999_999))}`;
  return { e164: `+${digits}`, digits };
}

describe('phone numbers at rest on the bus (L1)', () => {
  let db: OutboxDatabase;
  let vhost: TestVhost;
  let redis: Redis;
  let producer: Bus;
  let consumer: Bus;
  let legacy: Bus;
  const apps: INestMicroservice[] = [];
  let raw: amqp.ChannelModel;
  let ch: amqp.Channel;
  const { logger, capture } = capturedLogger('notifier');
  const prefix = redisPrefix();

  beforeAll(async () => {
    [db, vhost] = await Promise.all([createOutboxDatabase('pg_messaging_l1'), createTestVhost()]);
    redis = new Redis(TEST_INFRA.redisUrl);
    const common = { url: vhost.url, ...testKeys(), logger, metrics: false as const };
    consumer = new Bus({ ...common, service: 'notifier', redis, idempotency: { prefix } });
    legacy = new Bus({
      ...common,
      service: 'legacy',
      redis,
      idempotency: { prefix },
      contracts: [previousPhoneAddedV1],
    });
    // Published rows are kept (marked sent), so the test can read what the outbox held.
    producer = new Bus({
      ...common,
      service: 'identity',
      outbox: { dataSource: db.dataSource, pollIntervalMs: 60_000, retentionMs: 3_600_000 },
    });
    await Promise.all([consumer.start(), legacy.start(), producer.start()]);
    apps.push(await startMicroservice(RefusingModule, consumer.server));
    apps.push(await startMicroservice(LegacyModule, legacy.server));
    raw = await rawConnection(vhost.url);
    ch = await raw.createChannel();
    // A tap: one more queue bound to the same events, read raw (basic.get) to see what the broker holds.
    await ch.assertQueue('tap', { durable: false });
    await ch.bindQueue('tap', 'phonegate.events', 'identity.phone.#');
    await ch.bindQueue('tap', 'phonegate.events', 'notification.requested.#');
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await Promise.all([consumer?.close(), legacy?.close(), producer?.close()]);
    await raw?.close().catch(() => undefined);
    redis?.disconnect();
    await dropRedisPrefix(prefix);
    await Promise.all([db?.drop(), vhost?.drop()]);
  });

  it('keeps the number out of the outbox row, the queue and the DLQ, and hands it in clear to the consumers', async () => {
    const phone = phoneNumber();
    const sms = phoneNumber();
    const phoneId = randomUUID();
    const messageId = randomUUID();
    await db.dataSource.transaction(async (m) => {
      await producer.outbox.add(m, phoneAddedV1, {
        accountId: randomUUID(),
        phoneId,
        e164: phone.e164,
        purpose: 'add',
      });
      await producer.outbox.add(m, notificationRequestedV1, {
        ...notificationRequestedV1.example,
        messageId,
        to: sms.e164,
      });
    });

    // The consumers got the numbers in clear: the new one and one built on the previous contract.
    await eventually(() => received.added.some((d) => d.phoneId === phoneId), 10_000);
    await eventually(() => received.requested.some((d) => d.messageId === messageId), 10_000);
    await eventually(() => receivedByLegacy.some((d) => d.phoneId === phoneId), 10_000);
    expect(received.added.find((d) => d.phoneId === phoneId)?.e164).toBe(phone.e164);
    expect(received.requested.find((d) => d.messageId === messageId)?.to).toBe(sms.e164);
    expect(receivedByLegacy.find((d) => d.phoneId === phoneId)?.e164).toBe(phone.e164);

    // The outbox rows, as stored.
    const rows = await eventually(async () => {
      const r = await db.dataSource.query<{ e: string; sent: boolean }[]>(
        `SELECT envelope::text AS e, sent_at IS NOT NULL AS sent FROM outbox`,
      );
      return r.length === 2 && r.every((x) => x.sent) ? r : undefined;
    });
    const outboxText = rows.map((r) => r.e).join('\n');
    expect(outboxText).toContain(phoneId);
    expect(outboxText).toContain(messageId);

    // The tap queue and the DLQ, as the broker holds them.
    const tapped = await drainQueue(ch, 'tap');
    expect(tapped).toHaveLength(2);
    const dlq: amqp.GetMessage[] = [];
    await eventually(async () => {
      dlq.push(...(await drainQueue(ch, 'notifier.events.dlq')));
      return dlq.length === 2;
    });
    expect(dlq.map((m): unknown => m.properties.headers?.[FAILURE_HEADERS.reason])).toEqual([
      'conflict: refused by the test consumer',
      'conflict: refused by the test consumer',
    ]);

    for (const [where, text] of [
      ['outbox', outboxText],
      ['queue', tapped.map((m) => m.content.toString('utf8')).join('\n')],
      ['dlq', dlq.map((m) => `${m.content.toString('utf8')}\n${JSON.stringify(m.properties.headers)}`).join('\n')],
    ] as const) {
      expect({ where, phone: text.includes(phone.digits), sms: text.includes(sms.digits) }).toEqual({
        where,
        phone: false,
        sms: false,
      });
      expect({ where, encrypted: text.match(/"(e164|to)": ?"pgenc:v1:k1:/g)?.length }).toEqual({
        where,
        encrypted: 2,
      });
    }
    expect(capture.text()).not.toContain(phone.digits);
    expect(capture.text()).not.toContain(sms.digits);
  });

  it('still takes an event from a publisher of the previous version (the number in clear, not listed sensitive)', async () => {
    const phone = phoneNumber();
    const phoneId = randomUUID();
    const envelope = {
      specversion: '1.0' as const,
      id: randomUUID(),
      source: 'identity',
      type: phoneAddedV1.type,
      time: new Date().toISOString(),
      datacontenttype: 'application/json' as const,
      data: { accountId: randomUUID(), phoneId, e164: phone.e164, purpose: 'add' },
    };
    await producer.events.publishEnvelope(envelope, phoneAddedV1.type);
    await eventually(() => received.added.some((d) => d.phoneId === phoneId), 10_000);
    expect(received.added.find((d) => d.phoneId === phoneId)?.e164).toBe(phone.e164);
    await drainQueue(ch, 'tap');
    await eventually(async () => (await drainQueue(ch, 'notifier.events.dlq')).length === 1);
  });
});
