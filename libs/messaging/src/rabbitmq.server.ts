import type { ChannelModel, ConfirmChannel } from 'amqplib';
import {
  COMMAND_CATALOGUE,
  type CommandContract,
  EVENT_CATALOGUE,
  type EventContract,
} from '@phonegate/contracts';
import { type CustomTransportStrategy, type MessageHandler, Server } from '@nestjs/microservices';
import type { Logger } from 'pino';
import { isObservable, lastValueFrom } from 'rxjs';
import { type RetryPolicy, retryPolicy } from './backoff';
import type { BusContext } from './bus-context';
import type { ConnectionManager } from './connection';
import type { EnvelopeCodec } from './envelope';
import { type EventDispatcher, EventQueueConsumer } from './event-consumer';
import type { IdempotencyGuard } from './idempotency.guard';
import { type BusMetrics, NO_METRICS } from './metrics';
import { type CommandDispatcher, RpcQueueConsumer } from './rpc-consumer';
import { bindingCoversType } from './topic-match';
import { consumerQueueName, type QueueType } from './topology';

/** A named event queue `<service>.<name>` with explicit bindings (e.g. one per priority). */
export interface EventQueueOptions {
  name: string;
  /** Topic binding keys, e.g. `notification.requested.v1.critical`. */
  bindings: readonly string[];
  /** Unacked messages per consumer channel. Default: the server's prefetch. */
  prefetch?: number;
  /** Consumers (each with its own channel) on this queue in this process. Default 1. */
  consumers?: number;
}

export interface RabbitMqServerOptions {
  connection: ConnectionManager;
  service: string;
  codec: EnvelopeCodec;
  logger: Logger;
  /** Topic exchange of domain events. Default `phonegate.events`. */
  exchange?: string;
  /** Direct exchange of request-reply commands. Default `phonegate.rpc`. */
  rpcExchange?: string;
  /** Default `quorum`. */
  queueType?: QueueType;
  /** `x-delivery-limit` of quorum queues. Default 20. */
  deliveryLimit?: number;
  /** Default 200 (SECURITY M2: 100-300). */
  prefetch?: number;
  /** Unacked requests on the RPC channel. Default 200 (SECURITY M2: 100-300). */
  rpcPrefetch?: number;
  /**
   * Named queues. Event types with a handler that no named queue's bindings
   * cover go to `<service>.events` (bound to `<type>` and `<type>.#`).
   */
  queues?: readonly EventQueueOptions[];
  retry?: Partial<RetryPolicy>;
  /** Remembers handled event ids per queue (SECURITY M4). */
  guard?: IdempotencyGuard;
  /** Contracts beyond the catalogue of libs/contracts (tests, external events). */
  contracts?: readonly EventContract[];
  commands?: readonly CommandContract[];
  metrics?: BusMetrics;
  /** How long close() waits for handlers in flight. Default 15 s. */
  drainTimeoutMs?: number;
  /** How long listen() waits for the broker before failing. Default 30 s. */
  startTimeoutMs?: number;
}

type Consumer = EventQueueConsumer | RpcQueueConsumer;

/**
 * The Nest transport (`app.connectMicroservice({ strategy })`). `@EventPattern(type)`
 * handlers get the decrypted, validated data and a BusContext; `@MessagePattern(pattern)`
 * handlers return the response or throw a DomainError.
 *
 * Handler errors reach this transport intact only if the microservice has an
 * exception filter that rethrows them (platform's ProblemFilter with
 * `inheritAppConfig`, or BusExceptionFilter); Nest's default filter replaces
 * them with `{ status: 'error' }`, which this transport treats as retryable.
 */
export class RabbitMqServer extends Server implements CustomTransportStrategy {
  private readonly consumers: Consumer[] = [];
  private readonly unregisters: (() => void)[] = [];
  private readonly contracts = new Map<string, EventContract>();
  private readonly commands = new Map<string, CommandContract>();
  private readonly busLogger: Logger;
  private listening = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: RabbitMqServerOptions) {
    super();
    for (const c of [...EVENT_CATALOGUE, ...(options.contracts ?? [])])
      this.contracts.set(c.type, c);
    for (const c of [...COMMAND_CATALOGUE, ...(options.commands ?? [])])
      this.commands.set(c.pattern, c);
    this.busLogger = options.logger.child({ component: 'bus-server' });
  }

  async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      await this.start();
      callback();
    } catch (error) {
      callback(error);
    }
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      const drain = this.options.drainTimeoutMs ?? 15_000;
      await Promise.all(this.consumers.map((c) => c.stop(drain)));
      for (const unregister of this.unregisters) unregister();
      this._status$.next('disconnected');
    })();
    return this.closing;
  }

  /** Connection events: `connected`, `disconnected`, `blocked`, `unblocked`, `closed`. */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- the signature of Nest's Server.on
  on<EventKey extends string = string, EventCallback extends Function = Function>(
    event: EventKey,
    callback: EventCallback,
  ): void {
    this.options.connection.on(event, callback as unknown as (...args: unknown[]) => void);
  }

  /** The amqplib connection (undefined while reconnecting). */
  unwrap<T = ChannelModel | undefined>(): T {
    return this.options.connection.connection as T;
  }

  /** The live consumer channels (diagnostics and fault-injection tests). */
  consumerChannels(): ConfirmChannel[] {
    return this.consumers.flatMap((c) =>
      c instanceof EventQueueConsumer && c.currentChannel ? [c.currentChannel] : [],
    );
  }

  /** Queue names this server consumes from (after listen()). */
  queueNames(): string[] {
    return [...new Set(this.consumers.map((c) => c.name.replace(/^(consumer|rpc):/, '')))];
  }

  private async start(): Promise<void> {
    if (this.listening) return;
    this.listening = true;
    const o = this.options;
    const retry = retryPolicy(o.retry);
    const eventTypes: string[] = [];
    const patterns: string[] = [];
    for (const [pattern, handler] of this.messageHandlers)
      (handler.isEventHandler ? eventTypes : patterns).push(pattern);

    for (const type of eventTypes) {
      if (!this.contracts.has(type))
        this.busLogger.warn(
          { type },
          'no contract for an event handler; its messages will be parked',
        );
    }
    for (const pattern of patterns) {
      if (!this.commands.has(pattern))
        this.busLogger.warn({ pattern }, 'no contract for a command handler; requests will fail');
    }
    if (eventTypes.length && !o.guard)
      this.busLogger.warn('no idempotency guard: redelivered events run their handler again');

    const exchange = o.exchange ?? 'phonegate.events';
    const named = o.queues ?? [];
    const plans: EventQueueOptions[] = [...named];
    const uncovered = eventTypes.filter(
      (t) => !named.some((q) => q.bindings.some((b) => bindingCoversType(b, t))),
    );
    if (uncovered.length)
      plans.push({ name: 'events', bindings: uncovered.flatMap((t) => [t, `${t}.#`]) });

    const dispatcher = this.dispatcher();
    for (const plan of plans) {
      for (let i = 0; i < (plan.consumers ?? 1); i++) {
        this.consumers.push(
          new EventQueueConsumer(o.connection, {
            topology: {
              exchange,
              queue: consumerQueueName(o.service, plan.name),
              bindings: plan.bindings,
              queueType: o.queueType ?? 'quorum',
              deliveryLimit: o.deliveryLimit ?? 20,
              retry,
            },
            prefetch: plan.prefetch ?? o.prefetch ?? 200,
            retry,
            codec: o.codec,
            dispatcher,
            guard: o.guard,
            metrics: o.metrics ?? NO_METRICS,
            logger: o.logger,
          }),
        );
      }
    }
    if (patterns.length) {
      this.consumers.push(
        new RpcQueueConsumer(o.connection, {
          topology: {
            exchange: o.rpcExchange ?? 'phonegate.rpc',
            queue: consumerQueueName(o.service, 'rpc'),
            patterns,
          },
          prefetch: o.rpcPrefetch ?? 200,
          codec: o.codec,
          dispatcher,
          logger: o.logger,
        }),
      );
    }

    // Nest's `status` observable follows the connection.
    o.connection.on('connected', () => this._status$.next('connected'));
    o.connection.on('disconnected', () => this._status$.next('disconnected'));
    o.connection.start();
    for (const consumer of this.consumers)
      this.unregisters.push(await o.connection.register(consumer));
    await o.connection.waitUntilConnected(o.startTimeoutMs ?? 30_000);
    this._status$.next('connected');
    this.busLogger.info(
      { queues: this.queueNames(), events: eventTypes.length, commands: patterns.length },
      'bus consumers started',
    );
  }

  private dispatcher(): EventDispatcher & CommandDispatcher {
    const handlers = new Map<string, MessageHandler | null>();
    const handlerOf = (pattern: string) => {
      if (!handlers.has(pattern)) handlers.set(pattern, this.getHandlerByPattern(pattern));
      return handlers.get(pattern) ?? null;
    };
    return {
      contractOf: (type) => this.contracts.get(type),
      commandOf: (pattern) => this.commands.get(pattern),
      hasHandler: (pattern) => handlerOf(pattern) !== null,
      dispatch: async (pattern: string, data: unknown, ctx: BusContext) => {
        const handler = handlerOf(pattern);
        if (!handler) throw new Error(`no handler for ${pattern}`);
        const result: unknown = await handler(data, ctx);
        return isObservable(result) ? lastValueFrom(result, { defaultValue: undefined }) : result;
      },
    };
  }
}
