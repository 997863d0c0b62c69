import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { pooledRandomBytes } from '../crypto/random-pool';

export interface RequestContextData {
  requestId: string;
  correlationId: string;
  traceparent?: string;
}

const storage = new AsyncLocalStorage<RequestContextData>();

/**
 * Request, correlation and trace ids for the current unit of work (an HTTP
 * request or a consumed message), so logs and published events carry them.
 */
export const requestContext = {
  get(): RequestContextData | undefined {
    return storage.getStore();
  },
  run<T>(data: RequestContextData, fn: () => T): T {
    return storage.run(data, fn);
  },
  enterWith(data: RequestContextData): void {
    storage.enterWith(data);
  },
  /** A fresh context, keeping the caller's ids when given and well-formed. */
  from(headers: { requestId?: string; correlationId?: string; traceparent?: string }): RequestContextData {
    const requestId = safeId(headers.requestId) ?? randomUUID();
    const traceparent = validTraceparent(headers.traceparent) ?? newTraceparent();
    return { requestId, correlationId: safeId(headers.correlationId) ?? requestId, traceparent };
  },
};

function safeId(value: string | undefined): string | undefined {
  return value && /^[A-Za-z0-9._:-]{1,128}$/.test(value) ? value : undefined;
}

function validTraceparent(value: string | undefined): string | undefined {
  return value && /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/.test(value) ? value : undefined;
}

export function newTraceparent(): string {
  const hex = pooledRandomBytes(24).toString('hex');
  return `00-${hex.slice(0, 32)}-${hex.slice(32)}-01`;
}
