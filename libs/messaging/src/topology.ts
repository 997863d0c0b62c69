import type { Channel } from 'amqplib';
import { type RetryPolicy, tierMaxDelayMs } from './backoff';

export type QueueType = 'quorum' | 'classic';

/** WIRE NAMES: `<queue>.retry.<n>` and `<queue>.dlq` beside every consumer queue. */
export function retryQueueName(queue: string, tier: number): string {
  return `${queue}.retry.${tier}`;
}

export function deadLetterQueueName(queue: string): string {
  return `${queue}.dlq`;
}

export function consumerQueueName(service: string, name: string): string {
  return `${service}.${name}`;
}

export interface EventQueueTopology {
  exchange: string;
  queue: string;
  bindings: readonly string[];
  queueType: QueueType;
  /** Quorum queues: deliveries (e.g. a consumer crashing on a message) before it is dead-lettered. */
  deliveryLimit: number;
  retry: RetryPolicy;
}

/**
 * Quorum queues dead-letter at-least-once only with `reject-publish` overflow;
 * otherwise a message could be lost on the way to the DLQ or back from a
 * retry tier.
 */
function deadLetterArgs(type: QueueType, target: string): Record<string, unknown> {
  return {
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': target,
    ...(type === 'quorum'
      ? { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' }
      : {}),
  };
}

/** Arguments of every queue of one consumer queue's family (pure, for tests and deploy/ definitions). */
export function eventQueueArguments(t: EventQueueTopology): {
  main: Record<string, unknown>;
  retries: { name: string; args: Record<string, unknown> }[];
  dlq: Record<string, unknown>;
} {
  const typeArg = { 'x-queue-type': t.queueType };
  return {
    // A message rejected by the consumer (last resort when it cannot store a
    // retry copy) or delivered more than deliveryLimit times goes to the DLQ.
    main: {
      ...typeArg,
      ...(t.queueType === 'quorum' ? { 'x-delivery-limit': t.deliveryLimit } : {}),
      ...deadLetterArgs(t.queueType, deadLetterQueueName(t.queue)),
    },
    // A retry tier holds a copy until its per-message expiration (at most the
    // queue TTL), then dead-letters it back to the main queue.
    retries: t.retry.delaysMs.map((_, i) => ({
      name: retryQueueName(t.queue, i + 1),
      args: {
        ...typeArg,
        'x-message-ttl': tierMaxDelayMs(i + 1, t.retry),
        ...deadLetterArgs(t.queueType, t.queue),
      },
    })),
    dlq: { ...typeArg },
  };
}

/** Declares (idempotently) the exchange, the queue, its retry tiers, its DLQ and its bindings. */
export async function declareEventQueue(ch: Channel, t: EventQueueTopology): Promise<void> {
  const args = eventQueueArguments(t);
  await ch.assertExchange(t.exchange, 'topic', { durable: true });
  await ch.assertQueue(deadLetterQueueName(t.queue), { durable: true, arguments: args.dlq });
  for (const retry of args.retries)
    await ch.assertQueue(retry.name, { durable: true, arguments: retry.args });
  await ch.assertQueue(t.queue, { durable: true, arguments: args.main });
  for (const binding of t.bindings) await ch.bindQueue(t.queue, t.exchange, binding);
}

export interface RpcQueueTopology {
  exchange: string;
  queue: string;
  patterns: readonly string[];
}

/**
 * The request queue: classic, non-durable and auto-deleted with its last
 * consumer, so a service with no replica left has no queue and callers get
 * an immediate `mandatory` return instead of waiting for their deadline.
 */
export async function declareRpcQueue(ch: Channel, t: RpcQueueTopology): Promise<void> {
  await ch.assertExchange(t.exchange, 'direct', { durable: true });
  await ch.assertQueue(t.queue, {
    durable: false,
    autoDelete: true,
    arguments: { 'x-queue-type': 'classic' },
  });
  for (const pattern of t.patterns) await ch.bindQueue(t.queue, t.exchange, pattern);
}
