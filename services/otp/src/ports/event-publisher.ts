import type { EventContract, EventData } from '@phonegate/contracts';

/**
 * What the use cases need of the bus: publish one event and wait for the
 * broker's confirm. `EventBus` (libs/messaging) is the implementation.
 */
export interface EventPublisher {
  publish<C extends EventContract>(
    contract: C,
    data: EventData<C>,
    opts?: { id?: string; unroutable?: 'retry' | 'drop' },
  ): Promise<void>;
}

export const EVENT_PUBLISHER = Symbol('EVENT_PUBLISHER');
export const OTP_CONFIG = Symbol('OTP_CONFIG');
export const OTP_REDIS = Symbol('OTP_REDIS');
export const OTP_LOGGER = Symbol('OTP_LOGGER');
