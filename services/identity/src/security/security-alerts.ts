import { createHash, randomUUID } from 'node:crypto';
import { type EventData, notificationRequestedV1 } from '@phonegate/contracts';
import type { EntityManager } from 'typeorm';
import type { EventOutbox } from '../events/event-outbox';

/** WIRE NAMES of the notifier's templates: never change one. */
export type SecurityTemplate =
  | 'security.new_device'
  | 'security.phone_added'
  | 'security.phone_changed'
  | 'security.phone_removed'
  | 'security.two_step_disabled'
  | 'security.two_step_changed'
  | 'security.password_changed'
  | 'security.failed_codes';

export interface AlertTarget {
  accountId: string;
  email: string;
  locale: string;
}

/**
 * Builds a security alert: a critical-priority e-mail to the account's
 * address. Variables never carry a full number or a code (masked only).
 */
export function securityAlert(
  target: AlertTarget,
  template: SecurityTemplate,
  variables: Record<string, string | number | boolean>,
  ref: string,
): EventData<typeof notificationRequestedV1> {
  return {
    messageId: randomUUID(),
    priority: 'critical',
    channel: 'email',
    to: target.email,
    accountId: target.accountId,
    template,
    locale: target.locale,
    // `at` for the notifier's "on {date} at {time}" line.
    variables: { at: new Date().toISOString(), ...variables },
    dedupeKey: `identity:${template}:${boundedRef(ref)}`,
    origin: { service: 'identity', ref: boundedRef(ref) },
  };
}

/** The contract's bound on a dedupeKey (and an origin ref), with room for `identity:<template>:`. */
const MAX_REF = 120;

/**
 * An alert's reference as it goes on the bus: as it is when short, else its SHA-256 (hex), the
 * same for the same reference (so deduplication holds). A device id may be 200 characters, and an
 * alert keyed by account and device would break the contract's 200 (the sign-in answered 500
 * after its code was spent).
 */
export function boundedRef(ref: string): string {
  return ref.length <= MAX_REF ? ref : `sha256:${createHash('sha256').update(ref).digest('hex')}`;
}

/** Adds a security alert to the outbox inside the caller's transaction. */
export async function queueAlert(
  outbox: EventOutbox,
  manager: EntityManager,
  target: AlertTarget,
  template: SecurityTemplate,
  variables: Record<string, string | number | boolean>,
  ref: string,
): Promise<void> {
  await outbox.add(manager, notificationRequestedV1, securityAlert(target, template, variables, ref));
}
