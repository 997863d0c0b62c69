import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { ConnectionManager, ConnectionParticipant } from './connection';
import { Inflight } from './inflight';

/**
 * What the event and RPC consumers share: a channel opened (queue declared, prefetch set,
 * consumer started) on every connection, reopened with growing gaps when the broker closes
 * it, and a stop that cancels the consumer, waits for handlers in flight, closes the channel.
 */
export abstract class QueueConsumer<C extends Channel> implements ConnectionParticipant {
  abstract readonly name: string;
  protected channel: C | undefined;
  protected stopping = false;
  protected readonly inflight = new Inflight();
  private consumerTag: string | undefined;

  protected constructor(
    protected readonly connection: ConnectionManager,
    protected readonly logger: Logger,
    protected readonly queue: string,
    private readonly prefetch: number,
  ) {}

  /** A new channel on `conn` with the queue (and whatever else it needs) declared. */
  protected abstract createChannel(conn: ChannelModel): Promise<C>;
  protected abstract declare(ch: C): Promise<void>;
  protected abstract onMessage(ch: C, msg: ConsumeMessage | null): void;

  async onConnected(conn: ChannelModel): Promise<void> {
    if (this.stopping) return;
    await this.open(conn);
  }

  onDisconnected(): void {
    this.channel = undefined;
    this.consumerTag = undefined;
  }

  /** Cancels the consumer, waits for handlers in flight (at most timeoutMs), closes the channel. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    const ch = this.channel;
    if (ch && this.consumerTag) await ch.cancel(this.consumerTag).catch(() => undefined);
    if (!(await this.inflight.drain(timeoutMs)))
      this.logger.warn(
        { inflight: this.inflight.size },
        'drain timed out; unacked messages will be redelivered',
      );
    this.channel = undefined;
    await ch?.close().catch(() => undefined);
  }

  private async open(conn: ChannelModel): Promise<void> {
    const ch = await this.createChannel(conn);
    try {
      await this.declare(ch);
      await ch.prefetch(this.prefetch);
    } catch (error) {
      await ch.close().catch(() => undefined);
      throw error;
    }
    ch.on('error', (error: Error) =>
      this.logger.warn({ err: error.message }, 'consumer channel error'),
    );
    ch.on('close', () => this.onChannelClosed(ch, conn));
    this.channel = ch;
    const { consumerTag } = await ch.consume(this.queue, (msg) => this.onMessage(ch, msg), {
      noAck: false,
    });
    this.consumerTag = consumerTag;
  }

  private onChannelClosed(ch: C, conn: ChannelModel): void {
    if (this.channel !== ch) return;
    this.channel = undefined;
    this.consumerTag = undefined;
    if (this.stopping) return;
    this.logger.warn('consumer channel closed; reopening');
    const retry = (delayMs: number) =>
      setTimeout(() => {
        if (this.stopping || this.channel || this.connection.connection !== conn) return;
        this.open(conn).catch((error: unknown) => {
          this.logger.warn({ err: (error as Error).message }, 'consumer channel reopen failed');
          retry(Math.min(delayMs * 2, 5_000));
        });
      }, delayMs).unref();
    retry(50);
  }
}
