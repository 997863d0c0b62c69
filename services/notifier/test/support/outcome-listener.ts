import { connect, type Channel, type ChannelModel } from 'amqplib';
import { decodeEnvelope } from '@phonegate/messaging';
import { type Envelope, eventContractOf } from '@phonegate/contracts';

/** A queue of the test's own on the events exchange, to see what the notifier publishes. */
export class OutcomeListener {
  readonly events: Envelope[] = [];
  /** Events whose data failed their contract (should stay empty). */
  readonly invalid: Envelope[] = [];
  private conn: ChannelModel | undefined;
  private ch: Channel | undefined;

  static async start(
    url: string,
    bindings = [
      'notification.sent.v1',
      'notification.delivered.v1',
      'notification.failed.v1',
      'notification.dropped.v1',
    ],
  ): Promise<OutcomeListener> {
    const listener = new OutcomeListener();
    listener.conn = await connect(url);
    const ch = await listener.conn.createChannel();
    listener.ch = ch;
    await ch.assertExchange('phonegate.events', 'topic', { durable: true });
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    for (const b of bindings) await ch.bindQueue(queue, 'phonegate.events', b);
    await ch.consume(queue, (msg) => {
      if (!msg) return;
      const envelope = decodeEnvelope(msg.content);
      // What any consumer would do: the data must match its contract.
      const contract = eventContractOf(envelope.type);
      const parsed = contract?.schema.safeParse(envelope.data);
      if (!parsed?.success) listener.invalid.push(envelope);
      listener.events.push(envelope);
      ch.ack(msg);
    });
    return listener;
  }

  of(type: string, messageId?: string): Envelope<Record<string, unknown>>[] {
    return this.events.filter(
      (e) =>
        e.type === type &&
        (messageId === undefined || (e.data as { messageId?: string }).messageId === messageId),
    ) as Envelope<Record<string, unknown>>[];
  }

  async stop(): Promise<void> {
    await this.ch?.close().catch(() => undefined);
    await this.conn?.close().catch(() => undefined);
  }
}
