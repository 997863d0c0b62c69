import { randomUUID } from 'node:crypto';
import {
  type CommandContract,
  type Envelope,
  envelopeSchema,
  type EventContract,
  type EventData,
  routingKeyOf,
} from '@phonegate/contracts';
import { requestContext } from '@phonegate/platform';
import type { z } from 'zod';
import { ContractViolationError, MalformedMessageError } from './errors';
import { SensitiveCipher } from './sensitive-cipher';

export interface PublishOptions {
  /** Event id (default: a new UUID). Consumers deduplicate on it. */
  id?: string;
  /** Default: the current request context's correlation id. */
  correlationId?: string;
  /** W3C traceparent; default: the current request context's. */
  traceparent?: string;
  /** Default: now. */
  time?: Date;
  /** Overrides the bus's publish timeout for this message. */
  timeoutMs?: number;
  /**
   * What to do when no queue is bound (a `mandatory` return): `retry` until the
   * timeout (what a message someone must get needs) or `drop` (informational
   * events that may have no subscriber). Default: the bus's setting.
   */
  unroutable?: 'retry' | 'drop';
}

/** CloudEvents `datacontenttype` of our envelopes; the AMQP content type is structured-mode CloudEvents. */
export const CONTENT_TYPE = 'application/cloudevents+json';

/** Additional-data scope of a command's response fields. */
export function responseScope(pattern: string): string {
  return `${pattern}#response`;
}

/**
 * Builds and opens envelopes: validates data against its contract, encrypts
 * (or decrypts) the sensitive paths, and fills the CloudEvents attributes.
 */
export class EnvelopeCodec {
  constructor(
    private readonly service: string,
    readonly cipher: SensitiveCipher,
    private readonly now: () => Date = () => new Date(),
  ) {}

  event<C extends EventContract>(
    contract: C,
    data: EventData<C>,
    opts: PublishOptions = {},
  ): { envelope: Envelope; routingKey: string } {
    const parsed = parseOrThrow(contract.schema, data, contract.type) as EventData<C>;
    const routingKey = routingKeyOf(contract, parsed);
    return { envelope: this.seal(contract.type, parsed, contract.sensitive, opts), routingKey };
  }

  command<C extends CommandContract>(
    command: C,
    data: z.infer<C['request']>,
    opts: PublishOptions = {},
  ): Envelope {
    const parsed = parseOrThrow(command.request, data, command.pattern);
    return this.seal(command.pattern, parsed, command.sensitive, opts);
  }

  /** Decrypts and validates an event's data; throws DecryptError / ContractViolationError (never retried). */
  openEvent(envelope: Envelope, contract: EventContract): unknown {
    const data = this.cipher.decryptPaths(envelope.data, envelope.sensitive ?? [], envelope.type);
    return parseOrThrow(contract.schema, data, envelope.type);
  }

  openCommand(envelope: Envelope, command: CommandContract): unknown {
    const data = this.cipher.decryptPaths(envelope.data, envelope.sensitive ?? [], envelope.type);
    return parseOrThrow(command.request, data, envelope.type);
  }

  private seal(
    type: string,
    data: unknown,
    sensitive: readonly string[],
    opts: PublishOptions,
  ): Envelope {
    const ctx = requestContext.get();
    const { data: sealed, encrypted } = this.cipher.encryptPaths(data, sensitive, type);
    const correlationid = opts.correlationId ?? ctx?.correlationId;
    const traceparent = opts.traceparent ?? ctx?.traceparent;
    return {
      specversion: '1.0',
      id: opts.id ?? randomUUID(),
      source: this.service,
      type,
      time: (opts.time ?? this.now()).toISOString(),
      datacontenttype: 'application/json',
      ...(correlationid ? { correlationid } : {}),
      ...(traceparent ? { traceparent } : {}),
      ...(encrypted.length ? { sensitive: encrypted } : {}),
      data: sealed,
    };
  }
}

export function parseOrThrow(schema: z.ZodType, data: unknown, type: string): unknown {
  const result = schema.safeParse(data);
  if (!result.success) throw ContractViolationError.fromZod(type, result.error);
  return result.data;
}

export function encodeEnvelope(envelope: Envelope): Buffer {
  return Buffer.from(JSON.stringify(envelope), 'utf8');
}

/** Parses and checks the CloudEvents attributes; throws MalformedMessageError. */
export function decodeEnvelope(content: Buffer): Envelope {
  let raw: unknown;
  try {
    raw = JSON.parse(content.toString('utf8'));
  } catch {
    throw new MalformedMessageError('message body is not JSON');
  }
  const result = envelopeSchema.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues
      .map((i) => `${i.path.join('.') || '(root)'} ${i.code}`)
      .join(', ');
    throw new MalformedMessageError(`message is not a CloudEvents envelope: ${issues}`);
  }
  return result.data;
}

/** A light check for envelopes handed to publishEnvelope (the outbox relay). */
export function assertEnvelope(envelope: Envelope): void {
  const result = envelopeSchema.safeParse(envelope);
  if (!result.success) {
    throw new MalformedMessageError(
      `not a CloudEvents envelope: ${result.error.issues.map((i) => i.path.join('.')).join(', ')}`,
    );
  }
}
