import type { EventContract, EventData } from '@phonegate/contracts';
import type { EntityManager } from 'typeorm';

/**
 * The transactional outbox port (libs/messaging `Outbox`): an event is added
 * inside the caller's transaction, so it is published if and only if the row
 * change commits.
 */
export interface EventOutbox {
  add<C extends EventContract>(manager: EntityManager, contract: C, data: EventData<C>, opts?: { id?: string }): Promise<unknown>;
}
