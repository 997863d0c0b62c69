import { randomUUID } from 'node:crypto';
import { type Channel, type ChallengePurpose, notificationRequestedV1 } from '@phonegate/contracts';
import {
  BusUnavailableError,
  ContractViolationError,
  PublisherOverloadedError,
} from '@phonegate/messaging';
import type { EventPublisher } from '../ports/event-publisher';
import { templateFor } from '../challenges/challenge.model';

export interface CodeMessage {
  challengeId: string;
  purpose: ChallengePurpose;
  channel: Channel;
  /** E.164 or address; absent: the notifier resolves the account's e-mail. */
  to?: string;
  accountId?: string;
  locale?: string;
  code: string;
  sendNo: number;
  expiresAt: number;
  ttlMs: number;
  messageId: string;
  reportUrl: string;
}

/**
 * Whether a failed code publish certainly never reached the broker (so no SMS
 * can carry its code), as opposed to an outcome we cannot know.
 *
 * Certainly never left (libs/messaging `ConfirmPublisher`, `EventBus`):
 * - `BusUnavailableError`: refused at once (the connection down past its
 *   grace), or failed by the sweep from the line of messages never written;
 * - `PublisherOverloadedError`: refused at once, nothing written;
 * - `ContractViolationError`: the envelope was never built.
 *
 * Anything else may have reached the broker: `PublishTimeoutError` (written,
 * then no confirm in time: the broker may hold it and route it later),
 * `BusClosedError` (a shutdown also fails messages already on the wire), and
 * any error we do not know.
 */
export function codeNeverLeft(error: unknown): boolean {
  return (
    error instanceof BusUnavailableError ||
    error instanceof PublisherOverloadedError ||
    error instanceof ContractViolationError
  );
}

export type SecurityAlert =
  'security.unrequested_codes' | 'security.lockout' | 'security.code_reported';

/**
 * Builds and publishes `notification.requested.v1` for codes and security
 * alerts. The notifier owns the words; this passes the template name and the
 * variables. The code travels only in `variables.code` (encrypted on the bus).
 */
export class Messenger {
  constructor(
    private readonly bus: EventPublisher,
    private readonly host: string,
  ) {}

  sendCode(m: CodeMessage): Promise<void> {
    return this.bus.publish(notificationRequestedV1, {
      messageId: m.messageId,
      priority: 'critical',
      channel: m.channel,
      ...(m.to ? { to: m.to } : {}),
      ...(m.accountId ? { accountId: m.accountId } : {}),
      template: templateFor(m.purpose),
      locale: m.locale ?? 'en',
      variables: {
        code: m.code,
        host: this.host,
        minutes: Math.max(1, Math.round(m.ttlMs / 60_000)),
        reportUrl: m.reportUrl,
      },
      notAfter: new Date(m.expiresAt).toISOString(),
      dedupeKey: `otp:${m.challengeId}:${m.sendNo}`,
      origin: { service: 'otp', ref: m.challengeId },
    });
  }

  /** An e-mail to the account's owner; the notifier finds the address from its contact projection. */
  alert(
    template: SecurityAlert,
    accountId: string,
    dedupeKey: string,
    variables: Record<string, string | number>,
    locale = 'en',
  ): Promise<void> {
    return this.bus.publish(notificationRequestedV1, {
      messageId: randomUUID(),
      priority: 'critical',
      channel: 'email',
      accountId,
      template,
      locale,
      variables: { host: this.host, ...variables },
      dedupeKey,
      origin: { service: 'otp' },
    });
  }
}
