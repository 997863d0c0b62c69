import type { ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Envelope, EventContract } from '@phonegate/contracts';
import { requestContext } from '@phonegate/platform';
import type { Logger } from 'pino';
import {
  copyHeaders,
  copyProperties,
  numberHeader,
  publishConfirmed,
  stringHeader,
} from './amqp-util';
import { type RetryPolicy, retryTier, tierDelayMs } from './backoff';
import { BusContext } from './bus-context';
import type { ConnectionManager } from './connection';
import { decodeEnvelope, type EnvelopeCodec } from './envelope';
import { classifyFailure, UnknownEventError } from './errors';
import type { IdempotencyGuard } from './idempotency.guard';
import { QueueConsumer } from './queue-consumer';
import type { BusMetrics } from './metrics';
import {
  deadLetterQueueName,
  declareEventQueue,
  type EventQueueTopology,
  retryQueueName,
} from './topology';

/** WIRE NAMES of the headers on retry and DLQ copies. */
export const FAILURE_HEADERS = {
  reason: 'x-failure-reason',
  count: 'x-failure-count',
  originalRoutingKey: 'x-original-routing-key',
  failedAt: 'x-failed-at',
  originalQueue: 'x-original-queue',
  /** Deliveries sent round a retry tier because another delivery held the event id (not failures). */
  busy: 'x-busy-count',
} as const;

/** How the server hands an event to its Nest handler. */
export interface EventDispatcher {
  contractOf(type: string): EventContract | undefined;
  hasHandler(type: string): boolean;
  dispatch(type: string, data: unknown, ctx: BusContext): Promise<unknown>;
}

export interface EventConsumerOptions {
  topology: EventQueueTopology;
  prefetch: number;
  retry: RetryPolicy;
  codec: EnvelopeCodec;
  dispatcher: EventDispatcher;
  guard: IdempotencyGuard | undefined;
  metrics: BusMetrics;
  logger: Logger;
}

/**
 * One consumer (its own confirm channel and prefetch) on one event queue.
 * Per message: decode, decrypt, validate, idempotency guard, handler, then ack
 * (SECURITY M2). A failure is copied, with its reason, to the next retry tier
 * or to the DLQ, and the original acked only once the copy is confirmed; if
 * the copy cannot be stored the original is rejected (never requeued), which
 * dead-letters it to the DLQ through the queue's arguments.
 */
export class EventQueueConsumer extends QueueConsumer<ConfirmChannel> {
  override readonly name: string;

  constructor(
    connection: ConnectionManager,
    private readonly options: EventConsumerOptions,
  ) {
    const queue = options.topology.queue;
    super(
      connection,
      options.logger.child({ component: 'bus-consumer', queue }),
      queue,
      options.prefetch,
    );
    this.name = `consumer:${queue}`;
  }

  /** The live channel (diagnostics and fault-injection tests). */
  get currentChannel(): ConfirmChannel | undefined {
    return this.channel;
  }

  protected createChannel(conn: ChannelModel): Promise<ConfirmChannel> {
    return conn.createConfirmChannel();
  }

  protected declare(ch: ConfirmChannel): Promise<void> {
    return declareEventQueue(ch, this.options.topology);
  }

  protected onMessage(ch: ConfirmChannel, msg: ConsumeMessage | null): void {
    if (!msg) {
      // Cancelled by the broker (queue deleted): a new channel re-declares it.
      if (!this.stopping) void ch.close().catch(() => undefined);
      return;
    }
    void this.inflight
      .track(() => this.handle(ch, msg))
      .catch((error: unknown) =>
        this.logger.error({ err: error }, 'message handling failed unexpectedly'),
      );
  }

  private async handle(ch: ConfirmChannel, msg: ConsumeMessage): Promise<void> {
    const { codec, dispatcher, guard, metrics } = this.options;
    // A message parked earlier (it carries the park's time) is here again only because an
    // operator replayed it from its DLQ once the cause was fixed: it starts the retry schedule
    // afresh, instead of one more try and back to the DLQ at the first failure.
    const replayed = msg.properties.headers?.[FAILURE_HEADERS.failedAt] !== undefined;
    const failures = replayed ? 0 : numberHeader(msg, FAILURE_HEADERS.count);
    if (replayed)
      this.logger.info(
        { messageId: msg.properties.messageId as string | undefined },
        'message replayed from the DLQ: retries start afresh',
      );
    let envelope: Envelope;
    let data: unknown;
    try {
      envelope = decodeEnvelope(msg.content);
      if (!dispatcher.hasHandler(envelope.type))
        throw new UnknownEventError(`no handler for ${envelope.type} on ${this.queue}`);
      const contract = dispatcher.contractOf(envelope.type);
      if (!contract) throw new UnknownEventError(`no contract known for ${envelope.type}`);
      data = codec.openEvent(envelope, contract);
    } catch (error) {
      // Malformed, unknown, undecryptable or invalid: retrying cannot help.
      return this.park(ch, msg, classifyFailure(error).reason, failures + 1);
    }

    if (guard) {
      let verdict: Awaited<ReturnType<IdempotencyGuard['begin']>>;
      try {
        verdict = await guard.begin(this.queue, envelope.id);
      } catch (error) {
        this.logger.warn(
          { eventId: envelope.id, err: (error as Error).message },
          'idempotency store unavailable',
        );
        return this.retryBusy(ch, msg, 'idempotency store unavailable');
      }
      if (verdict === 'done') {
        metrics.consumed(this.queue, 'duplicate');
        this.ack(ch, msg);
        return;
      }
      if (verdict === 'busy')
        return this.retryBusy(ch, msg, 'another delivery of this event is in progress');
    }

    const attempt = failures + 1;
    const ctx = new BusContext([envelope, this.queue, attempt]);
    const ids = {
      requestId: envelope.id,
      correlationId: envelope.correlationid ?? envelope.id,
      ...(envelope.traceparent ? { traceparent: envelope.traceparent } : {}),
    };
    try {
      await requestContext.run(ids, () => dispatcher.dispatch(envelope.type, data, ctx));
    } catch (error) {
      if (guard) await guard.release(this.queue, envelope.id).catch(() => undefined);
      const verdict = classifyFailure(error);
      const parkNow = !verdict.retryable || attempt >= this.options.retry.maxAttempts;
      this.logger.warn(
        {
          eventId: envelope.id,
          type: envelope.type,
          attempt,
          retryable: verdict.retryable,
          reason: verdict.reason,
        },
        parkNow ? 'handler failed; parking the message' : 'handler failed; will retry',
      );
      if (parkNow) return this.park(ch, msg, verdict.reason, attempt);
      return this.retryCopy(ch, msg, attempt, verdict.reason);
    }
    if (guard) {
      await guard
        .complete(this.queue, envelope.id)
        .catch((error: unknown) =>
          this.logger.error(
            { eventId: envelope.id, err: (error as Error).message },
            'could not remember a handled event id',
          ),
        );
    }
    metrics.consumed(this.queue, 'ok');
    this.ack(ch, msg);
  }

  private originalRoutingKey(msg: ConsumeMessage): string {
    return stringHeader(msg, FAILURE_HEADERS.originalRoutingKey) ?? msg.fields.routingKey;
  }

  private async retryCopy(
    ch: ConfirmChannel,
    msg: ConsumeMessage,
    failures: number,
    reason: string,
  ): Promise<void> {
    const { retry } = this.options;
    const tier = retryTier(failures, retry);
    const kept = copyHeaders(msg);
    // No longer a replay once it has failed again: its count goes on from here.
    delete kept[FAILURE_HEADERS.failedAt];
    const headers = {
      ...kept,
      [FAILURE_HEADERS.count]: failures,
      [FAILURE_HEADERS.reason]: reason,
      [FAILURE_HEADERS.originalRoutingKey]: this.originalRoutingKey(msg),
    };
    await this.moveTo(
      ch,
      msg,
      retryQueueName(this.queue, tier),
      headers,
      String(tierDelayMs(tier, retry)),
    );
    this.options.metrics.retried(this.queue);
  }

  /** A delivery that could not run now (id held elsewhere, guard down): round a tier, not counted as a failure. */
  private async retryBusy(ch: ConfirmChannel, msg: ConsumeMessage, reason: string): Promise<void> {
    const { retry } = this.options;
    const busy = numberHeader(msg, FAILURE_HEADERS.busy) + 1;
    const tier = retryTier(busy, retry);
    const headers = {
      ...copyHeaders(msg),
      [FAILURE_HEADERS.busy]: busy,
      [FAILURE_HEADERS.originalRoutingKey]: this.originalRoutingKey(msg),
    };
    this.logger.debug({ busy, reason }, 'delivery postponed');
    await this.moveTo(
      ch,
      msg,
      retryQueueName(this.queue, tier),
      headers,
      String(tierDelayMs(tier, retry)),
    );
  }

  private async park(
    ch: ConfirmChannel,
    msg: ConsumeMessage,
    reason: string,
    failures: number,
  ): Promise<void> {
    const headers = {
      ...copyHeaders(msg),
      [FAILURE_HEADERS.reason]: reason,
      [FAILURE_HEADERS.count]: failures,
      [FAILURE_HEADERS.originalRoutingKey]: this.originalRoutingKey(msg),
      [FAILURE_HEADERS.failedAt]: new Date().toISOString(),
      [FAILURE_HEADERS.originalQueue]: this.queue,
    };
    this.logger.warn(
      { messageId: msg.properties.messageId as string | undefined, reason, failures },
      'message parked',
    );
    await this.moveTo(ch, msg, deadLetterQueueName(this.queue), headers);
    this.options.metrics.parked(this.queue);
  }

  /** Stores a copy (confirmed) then acks the original; if the copy fails, rejects it to the DLQ. */
  private async moveTo(
    ch: ConfirmChannel,
    msg: ConsumeMessage,
    queue: string,
    headers: Record<string, unknown>,
    expiration?: string,
  ): Promise<void> {
    try {
      await publishConfirmed(ch, '', queue, msg.content, {
        ...copyProperties(msg),
        headers,
        ...(expiration ? { expiration } : {}),
      });
    } catch (error) {
      this.logger.warn(
        { target: queue, err: (error as Error).message },
        'could not store a copy; rejecting to the DLQ',
      );
      try {
        ch.reject(msg, false);
      } catch {
        // Channel gone: the broker redelivers the original.
      }
      return;
    }
    this.ack(ch, msg);
  }

  private ack(ch: ConfirmChannel, msg: ConsumeMessage): void {
    try {
      ch.ack(msg);
    } catch {
      // Channel gone: the broker redelivers; the idempotency guard absorbs it.
    }
  }
}
