import type { CommandContract, EventContract } from '@phonegate/contracts';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ReconnectPolicy, RetryPolicy } from './backoff';
import { ConfirmPublisher } from './confirm-publisher';
import { ConnectionManager } from './connection';
import { EnvelopeCodec } from './envelope';
import { EventBus } from './event-bus';
import {
  type IdempotencyGuard,
  RedisIdempotencyGuard,
  type RedisGuardOptions,
} from './idempotency.guard';
import { type BusMetrics, NO_METRICS, promBusMetrics } from './metrics';
import { Outbox } from './outbox/outbox';
import { OutboxRelay, type OutboxRelayOptions } from './outbox/outbox.relay';
import { type EventQueueOptions, RabbitMqServer } from './rabbitmq.server';
import { RpcClient } from './rpc-client';
import { SensitiveCipher } from './sensitive-cipher';
import type { QueueType } from './topology';

export interface BusOptions {
  /** Service name: the envelopes' `source` and the prefix of its queues. */
  service: string;
  /** amqp://user:pass@host:5672/vhost */
  url: string;
  /** AES-256-GCM keys for sensitive fields: key id → base64 of 32 bytes. */
  keys: Readonly<Record<string, string>>;
  activeKeyId: string;
  logger: Logger;
  /** Share one connection between several buses of one process (embedded mode). */
  connection?: ConnectionManager;
  /** 10..20, default 15. */
  heartbeatSeconds?: number;
  reconnect?: Partial<ReconnectPolicy>;
  /** Timeout of one connection attempt. Default 10 s. */
  connectTimeoutMs?: number;
  /** Default `phonegate.events`. */
  exchange?: string;
  /** Default `phonegate.rpc`. */
  rpcExchange?: string;
  /** Default 30 s. */
  publishTimeoutMs?: number;
  /** Default 2000. */
  maxInFlight?: number;
  /** Publishes waiting for the broker beyond which publish() fails at once. Default 100,000. */
  maxPending?: number;
  /** Default `retry`: an event nobody is bound to is re-sent until the publish timeout. */
  unroutable?: 'retry' | 'drop';
  /** Default deadline of request(). Default 5 s. */
  rpcTimeoutMs?: number;
  queueType?: QueueType;
  deliveryLimit?: number;
  prefetch?: number;
  rpcPrefetch?: number;
  queues?: readonly EventQueueOptions[];
  retry?: Partial<RetryPolicy>;
  drainTimeoutMs?: number;
  startTimeoutMs?: number;
  /** Redis for the default idempotency guard. */
  redis?: Redis;
  idempotency?: RedisGuardOptions;
  /** A guard of your own (e.g. over PostgreSQL); wins over `redis`. */
  guard?: IdempotencyGuard;
  contracts?: readonly EventContract[];
  commands?: readonly CommandContract[];
  /** prom-client registry for the bus counters (default: the global registry); `false` for none. */
  metrics?: Registry | false;
  /** Enables the outbox relay. */
  outbox?: Omit<OutboxRelayOptions, 'bus' | 'logger'>;
  clock?: { now(): Date };
}

/**
 * Everything one service needs on the bus, wired once: the connection, the
 * publisher and request-reply client (EventBus), the consumer transport
 * (RabbitMqServer), the outbox and its relay.
 */
export class Bus {
  readonly connection: ConnectionManager;
  readonly events: EventBus;
  readonly server: RabbitMqServer;
  readonly outbox: Outbox;
  readonly relay: OutboxRelay | undefined;
  readonly codec: EnvelopeCodec;
  readonly metrics: BusMetrics;
  private readonly publisher: ConfirmPublisher;
  private readonly rpc: RpcClient;
  private readonly ownsConnection: boolean;
  private started: Promise<void> | undefined;
  private closed: Promise<void> | undefined;

  constructor(readonly options: BusOptions) {
    const exchange = options.exchange ?? 'phonegate.events';
    const rpcExchange = options.rpcExchange ?? 'phonegate.rpc';
    this.metrics = options.metrics === false ? NO_METRICS : promBusMetrics(options.metrics);
    this.ownsConnection = !options.connection;
    this.connection =
      options.connection ??
      new ConnectionManager({
        url: options.url,
        connectionName: options.service,
        logger: options.logger,
        ...(options.heartbeatSeconds !== undefined
          ? { heartbeatSeconds: options.heartbeatSeconds }
          : {}),
        ...(options.reconnect ? { reconnect: options.reconnect } : {}),
        ...(options.connectTimeoutMs !== undefined
          ? { connectTimeoutMs: options.connectTimeoutMs }
          : {}),
      });
    const cipher = new SensitiveCipher({ keys: options.keys, activeKeyId: options.activeKeyId });
    this.codec = new EnvelopeCodec(
      options.service,
      cipher,
      options.clock ? () => options.clock!.now() : undefined,
    );
    this.publisher = new ConfirmPublisher(this.connection, {
      logger: options.logger,
      exchanges: { [exchange]: 'topic' },
      metrics: this.metrics,
      ...(options.publishTimeoutMs !== undefined ? { timeoutMs: options.publishTimeoutMs } : {}),
      ...(options.maxInFlight !== undefined ? { maxInFlight: options.maxInFlight } : {}),
      ...(options.maxPending !== undefined ? { maxPending: options.maxPending } : {}),
      ...(options.unroutable ? { unroutable: options.unroutable } : {}),
    });
    this.rpc = new RpcClient(this.connection, {
      exchange: rpcExchange,
      codec: this.codec,
      logger: options.logger,
      metrics: this.metrics,
      ...(options.rpcTimeoutMs !== undefined ? { defaultTimeoutMs: options.rpcTimeoutMs } : {}),
    });
    this.events = new EventBus({
      connection: this.connection,
      publisher: this.publisher,
      rpc: this.rpc,
      codec: this.codec,
      exchange,
    });
    const guard =
      options.guard ??
      (options.redis ? new RedisIdempotencyGuard(options.redis, options.idempotency) : undefined);
    this.server = new RabbitMqServer({
      connection: this.connection,
      service: options.service,
      codec: this.codec,
      logger: options.logger,
      exchange,
      rpcExchange,
      metrics: this.metrics,
      ...(guard ? { guard } : {}),
      ...pick(options, [
        'queueType',
        'deliveryLimit',
        'prefetch',
        'rpcPrefetch',
        'queues',
        'retry',
        'contracts',
        'commands',
        'drainTimeoutMs',
        'startTimeoutMs',
      ]),
    });
    this.outbox = new Outbox(this.codec);
    this.relay = options.outbox
      ? new OutboxRelay({ ...options.outbox, bus: this.events, logger: options.logger })
      : undefined;
  }

  /**
   * Connects (in the background: publishes wait for the connection, up to
   * their timeout) and starts the relay. Consumers start with the Nest
   * microservice's listen().
   */
  start(): Promise<void> {
    this.started ??= (async () => {
      this.connection.start();
      await this.publisher.start();
      await this.rpc.start();
      this.relay?.start();
    })();
    return this.started;
  }

  /** Graceful: relay stops, consumers drain, unconfirmed publishes settle, then the connection closes. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.relay?.stop();
      await this.server.close();
      await this.publisher.close();
      await this.rpc.close();
      if (this.ownsConnection) await this.connection.close();
    })();
    return this.closed;
  }

  isHealthy(): boolean {
    return this.connection.isHealthy();
  }

  /** Publishes accepted but not yet confirmed by the broker. */
  get pendingPublishes(): number {
    return this.publisher.pending;
  }
}

export function createBus(options: BusOptions): Bus {
  return new Bus(options);
}

function pick<T extends object, K extends keyof T>(
  obj: T,
  keys: readonly K[],
): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}
