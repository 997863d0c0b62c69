import type { CommandContract } from './define-command';
import type { EventContract } from './define-event';
import { delivery, identity, identityCommands, notification, order, otp, otpCommands, shipment } from './catalogue';

export * from './common';
export * from './email';
export * from './define-command';
export * from './define-event';
export * from './envelope';
export * from './errors';
export * from './identity/account-created.v1';
export * from './identity/commands.v1';
export * from './identity/phone-added.v1';
export * from './identity/phone-changed.v1';
export * from './identity/signin-challenged.v1';
export * from './identity/two-step-changed.v1';
export * from './otp/challenge-events.v1';
export * from './otp/commands.v1';
export * from './notification/notification-requested.v1';
export * from './notification/notification-outcome.v1';
export * from './shipment/shipment-events.v1';
export * from './delivery/handoff-events.v1';
export * from './order/order-status-changed.v1';

/** Every event of the catalogue (ARCHITECTURE.md), by domain. */
export const EVENT_CATALOGUE: readonly EventContract[] = [
  ...identity,
  ...otp,
  ...notification,
  ...shipment,
  ...delivery,
  ...order,
];

export const COMMAND_CATALOGUE: readonly CommandContract[] = [...otpCommands, ...identityCommands];

const byType = new Map(EVENT_CATALOGUE.map((c) => [c.type, c]));
export function eventContractOf(type: string): EventContract | undefined {
  return byType.get(type);
}
