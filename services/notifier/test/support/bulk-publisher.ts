import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { type EventData, notificationRequestedV1 } from '@phonegate/contracts';
import {
  EnvelopeCodec,
  encodeEnvelope,
  eventProperties,
  SensitiveCipher,
} from '@phonegate/messaging';
import { TEST_BUS_KEYS } from './harness';

type Request = EventData<typeof notificationRequestedV1>;

/**
 * Publishes notification.requested.v1 straight with amqplib (confirm channel, batches), for
 * loads where the test must not be the bottleneck. Envelopes are built by the bus's own codec
 * (validated, code encrypted), so the notifier cannot tell them from any other publisher's.
 */
export class BulkPublisher {
  private readonly codec = new EnvelopeCodec(
    'load-test',
    new SensitiveCipher({ keys: { t1: TEST_BUS_KEYS.slice(3) }, activeKeyId: 't1' }),
  );

  private constructor(
    private readonly conn: ChannelModel,
    private readonly ch: ConfirmChannel,
    private readonly routeAs: (routingKey: string) => string,
  ) {}

  /** `routeAs` rewrites routing keys (a bench's floor consumer binds its own). */
  static async connect(
    url: string,
    routeAs: (routingKey: string) => string = (k) => k,
  ): Promise<BulkPublisher> {
    const conn = await connect(url);
    const ch = await conn.createConfirmChannel();
    await ch.assertExchange('phonegate.events', 'topic', { durable: true });
    return new BulkPublisher(conn, ch, routeAs);
  }

  /** Publishes and waits for the broker's confirms every `batch` messages; returns each envelope's time. */
  async publish(requests: readonly Request[], batch = 2_000): Promise<number[]> {
    const times: number[] = [];
    for (let i = 0; i < requests.length; i++) {
      const { envelope, routingKey } = this.codec.event(notificationRequestedV1, requests[i]!);
      times.push(Date.parse(envelope.time));
      if (
        !this.ch.publish(
          'phonegate.events',
          this.routeAs(routingKey),
          encodeEnvelope(envelope),
          eventProperties(envelope),
        )
      ) {
        await new Promise<void>((resolve) => this.ch.once('drain', () => resolve()));
      }
      if ((i + 1) % batch === 0) await this.ch.waitForConfirms();
    }
    await this.ch.waitForConfirms();
    return times;
  }

  async close(): Promise<void> {
    await this.ch.close().catch(() => undefined);
    await this.conn.close().catch(() => undefined);
  }
}
