import type { GuardVerdict, IdempotencyGuard } from '@phonegate/messaging';
import type { Redis } from 'ioredis';

/**
 * Remembers handled event ids (so a redelivered event is acked without work)
 * but never makes a delivery wait for another that may still hold the id: the
 * message log already makes sending idempotent per message id and dedupeKey,
 * and after a crash the redelivered messages must go out at once rather than
 * round the retry tiers until a lease expires.
 */
export class HandledEventsGuard implements IdempotencyGuard {
  /**
   * @param logQueues queues whose handler is idempotent through the message log itself (a
   *   redelivered message finds its row): no Redis round trips for them.
   */
  constructor(
    private readonly redis: Redis,
    private readonly logQueues: ReadonlySet<string> = new Set(),
    private readonly rememberMs = 7 * 24 * 3_600_000,
  ) {}

  async begin(queue: string, eventId: string): Promise<GuardVerdict> {
    if (this.logQueues.has(queue)) return 'acquired';
    return (await this.redis.get(key(queue, eventId))) === 'done' ? 'done' : 'acquired';
  }

  async complete(queue: string, eventId: string): Promise<void> {
    if (this.logQueues.has(queue)) return;
    await this.redis.set(key(queue, eventId), 'done', 'PX', this.rememberMs);
  }

  async release(): Promise<void> {
    // Nothing is held while a handler runs.
  }
}

function key(queue: string, eventId: string): string {
  return `idem:${queue}:${eventId}`;
}
