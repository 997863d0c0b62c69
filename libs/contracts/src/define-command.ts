import type { z } from 'zod';

/**
 * A request-reply message (RPC on the bus with a deadline). The reply is either
 * `{ ok: true, data }` or `{ ok: false, error: { code, status, detail, extra } }`.
 */
export interface CommandContract<Req extends z.ZodType = z.ZodType, Res extends z.ZodType = z.ZodType> {
  /** e.g. `otp.challenge.start.v1`. WIRE NAME: never change it. */
  readonly pattern: string;
  readonly request: Req;
  readonly response: Res;
  readonly exampleRequest: z.infer<Req>;
  readonly exampleResponse: z.infer<Res>;
  /** Dotted paths into the request that travel encrypted. */
  readonly sensitive: readonly string[];
  /** Dotted paths into the response that travel encrypted. */
  readonly sensitiveResponse: readonly string[];
}

export type CommandRequest<C extends CommandContract> = z.infer<C['request']>;
export type CommandResponse<C extends CommandContract> = z.infer<C['response']>;

export function defineCommand<Req extends z.ZodType, Res extends z.ZodType>(spec: {
  pattern: string;
  request: Req;
  response: Res;
  exampleRequest: z.infer<Req>;
  exampleResponse: z.infer<Res>;
  sensitive?: readonly string[];
  sensitiveResponse?: readonly string[];
}): CommandContract<Req, Res> {
  if (!/\.v\d+$/.test(spec.pattern)) throw new Error(`command ${spec.pattern} lacks a .v<n> suffix`);
  return { sensitive: [], sensitiveResponse: [], ...spec };
}

/** The error half of a reply; `code` is one of ERROR_CODES. */
export interface RemoteError {
  code: string;
  status: number;
  detail: string;
  extra?: Record<string, unknown>;
}

export type Reply<T> = { ok: true; data: T } | { ok: false; error: RemoteError };
