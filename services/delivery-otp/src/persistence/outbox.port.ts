import type { EventContract, EventData } from '@phonegate/contracts';
import type { EntityManager } from 'typeorm';

/**
 * Adds an event to the transactional outbox inside the caller's transaction
 * (libs/messaging `Outbox.add`): the event is published after, and only if,
 * the business rows commit.
 */
export interface OutboxWriter {
  add<C extends EventContract>(manager: EntityManager, contract: C, data: EventData<C>): Promise<unknown>;
}
