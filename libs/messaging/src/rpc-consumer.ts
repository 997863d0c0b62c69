import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import {
  type CommandContract,
  ERROR_CODES,
  type Envelope,
  isErrorCode,
  type RemoteError,
} from '@phonegate/contracts';
import { requestContext } from '@phonegate/platform';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { QueueConsumer } from './queue-consumer';
import { numberHeader } from './amqp-util';
import { BusContext } from './bus-context';
import type { ConnectionManager } from './connection';
import { decodeEnvelope, type EnvelopeCodec, parseOrThrow, responseScope } from './envelope';
import { ContractViolationError } from './errors';
import { DEADLINE_HEADER, type ReplyBody } from './rpc-client';
import { declareRpcQueue, type RpcQueueTopology } from './topology';

export interface CommandDispatcher {
  commandOf(pattern: string): CommandContract | undefined;
  hasHandler(pattern: string): boolean;
  dispatch(pattern: string, data: unknown, ctx: BusContext): Promise<unknown>;
}

export interface RpcConsumerOptions {
  topology: RpcQueueTopology;
  prefetch: number;
  codec: EnvelopeCodec;
  dispatcher: CommandDispatcher;
  logger: Logger;
}

/**
 * Serves request-reply commands: validates the request, runs the handler,
 * validates and encrypts the response, and replies `{ ok, data }` or
 * `{ ok: false, error }` to the caller's direct reply-to address. Requests
 * past their deadline are dropped unanswered (the caller has given up).
 */
export class RpcQueueConsumer extends QueueConsumer<Channel> {
  override readonly name: string;

  constructor(
    connection: ConnectionManager,
    private readonly options: RpcConsumerOptions,
  ) {
    const queue = options.topology.queue;
    super(
      connection,
      options.logger.child({ component: 'bus-rpc-server', queue }),
      queue,
      options.prefetch,
    );
    this.name = `rpc:${queue}`;
  }

  protected createChannel(conn: ChannelModel): Promise<Channel> {
    return conn.createChannel();
  }

  protected declare(ch: Channel): Promise<void> {
    return declareRpcQueue(ch, this.options.topology);
  }

  protected onMessage(ch: Channel, msg: ConsumeMessage | null): void {
    if (!msg) return;
    void this.inflight
      .track(async () => {
        try {
          await this.handle(ch, msg);
        } catch (error) {
          this.logger.error({ err: error }, 'request handling failed unexpectedly');
        } finally {
          try {
            ch.ack(msg);
          } catch {
            // channel gone; the request expires or is redelivered
          }
        }
      })
      .catch(() => undefined);
  }

  private async handle(ch: Channel, msg: ConsumeMessage): Promise<void> {
    const deadline = numberHeader(msg, DEADLINE_HEADER);
    if (deadline && Date.now() > deadline) {
      this.logger.debug(
        { messageId: msg.properties.messageId as string | undefined },
        'expired request dropped',
      );
      return;
    }
    const reply = await this.answer(msg);
    const replyTo = msg.properties.replyTo as string | undefined;
    if (!replyTo) return;
    ch.publish('', replyTo, Buffer.from(JSON.stringify(reply), 'utf8'), {
      correlationId: msg.properties.correlationId as string | undefined,
      contentType: 'application/json',
    });
  }

  private async answer(msg: ConsumeMessage): Promise<ReplyBody> {
    const { codec, dispatcher } = this.options;
    let envelope: Envelope;
    let command: CommandContract | undefined;
    let data: unknown;
    try {
      envelope = decodeEnvelope(msg.content);
      command = dispatcher.commandOf(envelope.type);
      if (!command || !dispatcher.hasHandler(envelope.type)) {
        return failure('internal_error', `no handler for ${envelope.type}`);
      }
      data = codec.openCommand(envelope, command);
    } catch (error) {
      return { ok: false, error: toRemoteError(error, this.logger) };
    }
    const ids = {
      requestId: envelope.id,
      correlationId: envelope.correlationid ?? envelope.id,
      ...(envelope.traceparent ? { traceparent: envelope.traceparent } : {}),
    };
    let result: unknown;
    try {
      result = await requestContext.run(ids, () =>
        dispatcher.dispatch(
          envelope.type,
          data,
          new BusContext([envelope, this.options.topology.queue, 1]),
        ),
      );
    } catch (error) {
      return { ok: false, error: toRemoteError(error, this.logger) };
    }
    try {
      const response = parseOrThrow(command.response, result, `${envelope.type} response`);
      const sealed = codec.cipher.encryptPaths(
        response,
        command.sensitiveResponse,
        responseScope(envelope.type),
      );
      return {
        ok: true,
        data: sealed.data,
        ...(sealed.encrypted.length ? { sensitive: sealed.encrypted } : {}),
      };
    } catch (error) {
      this.logger.error(
        { pattern: envelope.type, err: (error as Error).message },
        'handler returned an invalid response',
      );
      return failure('internal_error', 'Something went wrong on our side.');
    }
  }
}

function failure(
  code: keyof typeof ERROR_CODES,
  detail: string,
  extra?: Record<string, unknown>,
): ReplyBody {
  return {
    ok: false,
    error: { code, status: ERROR_CODES[code], detail, ...(extra ? { extra } : {}) },
  };
}

/** A thrown value as the error half of a reply. Unknown errors never leak their message. */
export function toRemoteError(error: unknown, logger?: Logger): RemoteError {
  if (error instanceof ContractViolationError) {
    return {
      code: 'validation_failed',
      status: ERROR_CODES.validation_failed,
      detail: 'The request has invalid fields.',
      extra: { errors: error.issues.map((i) => ({ field: i.path || '(body)', code: i.code })) },
    };
  }
  if (error instanceof ZodError)
    return toRemoteError(ContractViolationError.fromZod('request', error), logger);
  if (error instanceof Error) {
    const { code, detail, extra } = error as { code?: unknown; detail?: unknown; extra?: unknown };
    if (typeof code === 'string' && isErrorCode(code)) {
      return {
        code,
        status: ERROR_CODES[code],
        detail: typeof detail === 'string' ? detail : error.message,
        ...(extra && typeof extra === 'object' && Object.keys(extra).length
          ? { extra: extra as Record<string, unknown> }
          : {}),
      };
    }
  }
  logger?.error({ err: error }, 'request handler failed');
  return { code: 'internal_error', status: 500, detail: 'Something went wrong on our side.' };
}
