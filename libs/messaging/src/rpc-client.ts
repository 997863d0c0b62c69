import type { Channel, ChannelModel, ConsumeMessage, Message } from 'amqplib';
import {
  type CommandContract,
  type CommandResponse,
  type CommandRequest,
  isErrorCode,
  type RemoteError,
} from '@phonegate/contracts';
import { DomainError } from '@phonegate/platform';
import type { Logger } from 'pino';
import type { ConnectionManager, ConnectionParticipant } from './connection';
import {
  CONTENT_TYPE,
  type EnvelopeCodec,
  encodeEnvelope,
  parseOrThrow,
  responseScope,
} from './envelope';
import { BusClosedError, ContractViolationError, serviceUnavailable } from './errors';
import { type BusMetrics, NO_METRICS } from './metrics';

/** RabbitMQ's direct reply-to pseudo-queue: replies come back on the requesting channel. */
export const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';
/** Header with the request's deadline (epoch ms); servers drop requests past it. */
export const DEADLINE_HEADER = 'x-deadline';

export interface RequestOptions {
  /** Deadline of the whole call. Default: the bus's rpcTimeoutMs (5 s). */
  timeoutMs?: number;
  correlationId?: string;
  traceparent?: string;
}

/** What a server answers (WIRE FORMAT). */
export type ReplyBody =
  { ok: true; data: unknown; sensitive?: string[] } | { ok: false; error: RemoteError };

interface Pending {
  pattern: string;
  command: CommandContract;
  timer: NodeJS.Timeout;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export interface RpcClientOptions {
  exchange: string;
  codec: EnvelopeCodec;
  logger: Logger;
  defaultTimeoutMs?: number;
  metrics?: BusMetrics;
}

/**
 * Request-reply over direct reply-to. A request is published `mandatory` with
 * an `expiration` equal to its deadline: no bound queue (service not deployed
 * or all replicas gone) comes back at once as a return, a queue nobody
 * consumes lets the request expire; either way the caller gets a clear
 * `service_unavailable` (503) within its deadline, never a hang.
 */
export class RpcClient implements ConnectionParticipant {
  readonly name = 'rpc-client';
  private channel: Channel | undefined;
  private readonly pending = new Map<string, Pending>();
  private closed = false;
  private unregister: (() => void) | undefined;
  private readonly metrics: BusMetrics;
  private readonly logger: Logger;

  constructor(
    private readonly connection: ConnectionManager,
    private readonly options: RpcClientOptions,
  ) {
    this.metrics = options.metrics ?? NO_METRICS;
    this.logger = options.logger.child({ component: 'bus-rpc-client' });
  }

  async start(): Promise<void> {
    if (this.unregister || this.closed) return;
    this.unregister = await this.connection.register(this);
  }

  async request<C extends CommandContract>(
    command: C,
    data: CommandRequest<C>,
    opts: RequestOptions = {},
  ): Promise<CommandResponse<C>> {
    if (this.closed) throw new BusClosedError('rpc client');
    const timeoutMs = opts.timeoutMs ?? this.options.defaultTimeoutMs ?? 5_000;
    const envelope = this.options.codec.command(command, data, opts);
    const ch = this.channel;
    if (!ch || !this.connection.isConnected()) {
      this.metrics.rpc(command.pattern, 'unavailable');
      throw serviceUnavailable(`the bus is not connected; ${command.pattern} cannot be reached`);
    }
    if (this.connection.isBlocked()) {
      this.metrics.rpc(command.pattern, 'unavailable');
      throw serviceUnavailable('the bus is blocked by the broker (resource alarm)');
    }
    const deadline = Date.now() + timeoutMs;
    return new Promise<CommandResponse<C>>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(envelope.id)) return;
        this.metrics.rpc(command.pattern, 'unavailable');
        reject(serviceUnavailable(`${command.pattern} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(envelope.id, {
        pattern: command.pattern,
        command,
        timer,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      try {
        ch.publish(this.options.exchange, command.pattern, encodeEnvelope(envelope), {
          mandatory: true,
          persistent: false,
          replyTo: DIRECT_REPLY_TO,
          correlationId: envelope.id,
          messageId: envelope.id,
          expiration: String(timeoutMs),
          contentType: CONTENT_TYPE,
          type: command.pattern,
          headers: { [DEADLINE_HEADER]: deadline },
        });
      } catch (error) {
        this.settle(envelope.id)?.reject(
          serviceUnavailable(
            `request to ${command.pattern} could not be sent: ${(error as Error).message}`,
          ),
        );
      }
    });
  }

  async onConnected(conn: ChannelModel): Promise<void> {
    await this.openChannel(conn);
  }

  onDisconnected(): void {
    this.channel = undefined;
    this.failAll('the connection to the bus was lost');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unregister?.();
    this.failAll('the bus is shutting down');
    const ch = this.channel;
    this.channel = undefined;
    await ch?.close().catch(() => undefined);
  }

  private async openChannel(conn: ChannelModel): Promise<void> {
    const ch = await conn.createChannel();
    try {
      await ch.assertExchange(this.options.exchange, 'direct', { durable: true });
      await ch.consume(DIRECT_REPLY_TO, (msg) => this.onReply(msg), { noAck: true });
    } catch (error) {
      await ch.close().catch(() => undefined);
      throw error;
    }
    ch.on('error', (error: Error) =>
      this.logger.warn({ err: error.message }, 'rpc client channel error'),
    );
    ch.on('return', (msg: Message) => this.onReturn(msg));
    ch.on('close', () => {
      if (this.channel !== ch) return;
      this.channel = undefined;
      // Replies were bound to this channel: calls in flight cannot complete.
      this.failAll('the request channel was closed');
      if (this.closed) return;
      setTimeout(() => {
        if (this.closed || this.channel || this.connection.connection !== conn) return;
        this.openChannel(conn).catch((error: unknown) =>
          this.logger.warn({ err: (error as Error).message }, 'rpc client channel reopen failed'),
        );
      }, 50).unref();
    });
    this.channel = ch;
  }

  private onReturn(msg: Message): void {
    const id = msg.properties.correlationId as string | undefined;
    const pending = id ? this.settle(id) : undefined;
    if (!pending) return;
    this.metrics.rpc(pending.pattern, 'unavailable');
    pending.reject(serviceUnavailable(`no service is serving ${pending.pattern}`));
  }

  private onReply(msg: ConsumeMessage | null): void {
    if (!msg) return;
    const id = msg.properties.correlationId as string | undefined;
    const pending = id ? this.settle(id) : undefined;
    if (!pending) return; // late reply after a timeout
    try {
      const body = JSON.parse(msg.content.toString('utf8')) as ReplyBody;
      if (body.ok === true) {
        const { cipher } = this.options.codec;
        const data = cipher.decryptPaths(
          body.data,
          body.sensitive ?? [],
          responseScope(pending.pattern),
        );
        const parsed = parseOrThrow(pending.command.response, data, `${pending.pattern} response`);
        this.metrics.rpc(pending.pattern, 'ok');
        pending.resolve(parsed);
        return;
      }
      this.metrics.rpc(pending.pattern, 'error');
      pending.reject(toDomainError(body.error));
    } catch (error) {
      this.metrics.rpc(pending.pattern, 'error');
      const detail =
        error instanceof ContractViolationError
          ? error.message
          : `unreadable reply from ${pending.pattern}`;
      pending.reject(new DomainError('internal_error', detail, {}, false));
    }
  }

  private settle(id: string): Pending | undefined {
    const pending = this.pending.get(id);
    if (!pending) return undefined;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    return pending;
  }

  private failAll(reason: string): void {
    for (const id of [...this.pending.keys()]) {
      const pending = this.settle(id);
      if (!pending) continue;
      this.metrics.rpc(pending.pattern, 'unavailable');
      pending.reject(serviceUnavailable(`${pending.pattern}: ${reason}`));
    }
  }
}

/** A remote error as the DomainError the caller would have thrown itself. */
export function toDomainError(error: RemoteError | undefined): DomainError {
  if (!error || typeof error.code !== 'string' || !isErrorCode(error.code)) {
    return new DomainError(
      'internal_error',
      error?.detail ?? 'the remote service failed',
      {},
      false,
    );
  }
  return new DomainError(error.code, error.detail ?? error.code, error.extra ?? {});
}
