import type { z } from 'zod';

/**
 * One message contract: its routing key (= CloudEvents type), version, runtime
 * schema (the single source of both the TypeScript type and the validator), an
 * example payload and the paths of fields that are sensitive (one-time codes,
 * tokens, full phone numbers): the transport encrypts those and loggers never
 * print them.
 */
export interface EventContract<S extends z.ZodType = z.ZodType> {
  /** e.g. `identity.phone.added.v1`. WIRE NAME: never change it. */
  readonly type: string;
  readonly version: number;
  readonly schema: S;
  readonly example: z.infer<S>;
  /** Dotted paths into `data`, e.g. `variables.code`. */
  readonly sensitive: readonly string[];
  /**
   * Optional suffix appended to the routing key (`<type>.<suffix>`) so that a
   * consumer can bind separate queues, e.g. one per priority.
   */
  readonly routingSuffix?: (data: z.infer<S>) => string;
}

export type EventData<C extends EventContract> = z.infer<C['schema']>;

export function defineEvent<S extends z.ZodType>(spec: {
  type: string;
  schema: S;
  example: z.infer<S>;
  sensitive?: readonly string[];
  routingSuffix?: (data: z.infer<S>) => string;
}): EventContract<S> {
  const match = /\.v(\d+)$/.exec(spec.type);
  if (!match) throw new Error(`event type ${spec.type} lacks a .v<n> version suffix`);
  return {
    type: spec.type,
    version: Number(match[1]),
    schema: spec.schema,
    example: spec.example,
    sensitive: spec.sensitive ?? [],
    ...(spec.routingSuffix ? { routingSuffix: spec.routingSuffix } : {}),
  };
}

/** The AMQP routing key a message of this contract is published with. */
export function routingKeyOf<C extends EventContract>(contract: C, data: EventData<C>): string {
  return contract.routingSuffix ? `${contract.type}.${contract.routingSuffix(data)}` : contract.type;
}
