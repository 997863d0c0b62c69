import type { ConfirmChannel, Message, Options } from 'amqplib';

/** Publishes on a confirm channel and resolves on the broker's ack. */
export function publishConfirmed(
  ch: ConfirmChannel,
  exchange: string,
  routingKey: string,
  content: Buffer,
  options: Options.Publish,
): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      ch.publish(exchange, routingKey, content, options, (err: unknown) =>
        err ? reject(err instanceof Error ? err : new Error('nacked by the broker')) : resolve(),
      );
    } catch (error) {
      reject(error instanceof Error ? error : new Error(String(error)));
    }
  });
}

/** Headers the broker or our publisher add, which a copy must not carry along. */
const TRANSIENT_HEADER = /^x-(death|first-death-.*|last-death-.*|delivery-count|pub)$/;

export function copyHeaders(msg: Message): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(msg.properties.headers ?? {}))
    if (!TRANSIENT_HEADER.test(k)) out[k] = v;
  return out;
}

/** The properties of a message worth keeping on a retry or DLQ copy. */
export function copyProperties(msg: Message): Options.Publish {
  const p = msg.properties;
  return {
    persistent: true,
    ...(p.contentType ? { contentType: p.contentType as string } : {}),
    ...(p.messageId ? { messageId: p.messageId as string } : {}),
    ...(p.type ? { type: p.type as string } : {}),
    ...(p.appId ? { appId: p.appId as string } : {}),
    ...(p.correlationId ? { correlationId: p.correlationId as string } : {}),
    ...(p.timestamp ? { timestamp: p.timestamp as number } : {}),
  };
}

export function numberHeader(msg: Message, name: string): number {
  const v: unknown = msg.properties.headers?.[name];
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

export function stringHeader(msg: Message, name: string): string | undefined {
  const v: unknown = msg.properties.headers?.[name];
  return typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
}
