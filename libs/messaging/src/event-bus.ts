import type {
  CommandContract,
  CommandRequest,
  CommandResponse,
  Envelope,
  EventContract,
  EventData,
} from '@phonegate/contracts';
import type { Options } from 'amqplib';
import type { ConfirmPublisher } from './confirm-publisher';
import type { ConnectionManager } from './connection';
import {
  assertEnvelope,
  CONTENT_TYPE,
  type EnvelopeCodec,
  encodeEnvelope,
  type PublishOptions,
} from './envelope';
import type { RequestOptions, RpcClient } from './rpc-client';

export interface EventBusDeps {
  connection: ConnectionManager;
  publisher: ConfirmPublisher;
  rpc: RpcClient;
  codec: EnvelopeCodec;
  exchange: string;
}

/** AMQP properties of a published event (WIRE FORMAT). */
export function eventProperties(envelope: Envelope): Options.Publish {
  return {
    persistent: true,
    mandatory: true,
    contentType: CONTENT_TYPE,
    messageId: envelope.id,
    type: envelope.type,
    appId: envelope.source,
    timestamp: Math.floor(Date.parse(envelope.time) / 1000),
    ...(envelope.correlationid ? { correlationId: envelope.correlationid } : {}),
  };
}

/**
 * Publishing events and calling commands. Inject it anywhere (BusModule
 * provides it); consuming is RabbitMqServer's job.
 */
export class EventBus {
  constructor(private readonly deps: EventBusDeps) {}

  /**
   * Validates `data` against the contract (throws ContractViolationError),
   * encrypts its sensitive paths, wraps it in a CloudEvents envelope and
   * publishes it persistent and `mandatory` to the events exchange with routing
   * key `routingKeyOf(contract, data)`. Resolves on the broker's confirm; a
   * nack, a return or a lost connection re-sends it, until the publish timeout
   * (then PublishTimeoutError).
   */
  publish<C extends EventContract>(
    contract: C,
    data: EventData<C>,
    opts: PublishOptions = {},
  ): Promise<void> {
    // Not `async`: one promise per publish on the hot path; a validation error still rejects.
    let built: { envelope: Envelope; routingKey: string };
    try {
      built = this.deps.codec.event(contract, data, opts);
    } catch (error) {
      return Promise.reject(asError(error));
    }
    return this.send(built.envelope, built.routingKey, opts.timeoutMs, opts.unroutable);
  }

  /**
   * Publishes an envelope built earlier (the outbox relay): same guarantees as publish();
   * `unroutable` overrides the bus's setting for this message.
   */
  publishEnvelope(
    envelope: Envelope,
    routingKey: string,
    opts: Pick<PublishOptions, 'timeoutMs' | 'unroutable'> = {},
  ): Promise<void> {
    try {
      assertEnvelope(envelope);
    } catch (error) {
      return Promise.reject(asError(error));
    }
    return this.send(envelope, routingKey, opts.timeoutMs, opts.unroutable);
  }

  /**
   * Request-reply with a deadline: resolves with the validated response, throws
   * DomainError('service_unavailable') when nobody serves the command, the
   * deadline passes or the bus is down, and a DomainError with the remote code
   * when the handler answered an error.
   */
  request<C extends CommandContract>(
    command: C,
    data: CommandRequest<C>,
    opts: RequestOptions = {},
  ): Promise<CommandResponse<C>> {
    return this.deps.rpc.request(command, data, opts);
  }

  isHealthy(): boolean {
    return this.deps.connection.isHealthy();
  }

  private send(envelope: Envelope, routingKey: string, timeoutMs?: number, unroutable?: 'retry' | 'drop'): Promise<void> {
    return this.deps.publisher.publish(
      this.deps.exchange,
      routingKey,
      encodeEnvelope(envelope),
      eventProperties(envelope),
      timeoutMs,
      unroutable,
    );
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
