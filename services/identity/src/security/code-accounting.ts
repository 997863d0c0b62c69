import { Inject, Injectable } from '@nestjs/common';
import { Clock, DomainError, type Logger, PLATFORM_LOGGER } from '@phonegate/platform';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import type { AccountEntity } from '../accounts/account.entity';
import type { IdentityConfig } from '../config/identity.config';
import type { EventOutbox } from '../events/event-outbox';
import { EVENT_OUTBOX, IDENTITY_CONFIG, IDENTITY_REDIS } from '../tokens';
import { queueAlert } from './security-alerts';
import { CodeFailureCounter } from './signin-throttle';

/**
 * How a failed check counts against the account: only a code that was really
 * compared. `code_mismatch` always is. `too_many_attempts` is the otp
 * service's answer both to the wrong code that locks a challenge and to every
 * later submission to the locked challenge (its reply does not tell them
 * apart), so it counts once per challenge, and not at all without one (a
 * TOTP or backup-code `too_many_attempts` is a rate limit, nothing compared).
 */
export function failureCount(
  error: unknown,
  challengeId: string | undefined,
): 'counts' | 'once' | 'none' {
  if (!(error instanceof DomainError)) return 'none';
  if (error.code === 'code_mismatch') return 'counts';
  if (error.code === 'too_many_attempts' && challengeId) return 'once';
  return 'none';
}

/**
 * Consecutive wrong second-factor codes of an account across its challenges
 * (sign-in, step-up): C8's per-account lock, and one `security.failed_codes`
 * alert per window once a few are in a row. Password-reset codes are not
 * counted: anyone who knows the e-mail can ask for a reset, so its wrong codes
 * must not lock the owner out (each reset is bounded by its own attempts, C7,
 * and resets by IDENTITY_RESET_MAX_PER_TARGET).
 */
@Injectable()
export class CodeAccounting {
  private readonly counter: CodeFailureCounter;

  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    @Inject(IDENTITY_REDIS) redis: Redis,
    @Inject(IDENTITY_CONFIG) private readonly config: IdentityConfig,
    @Inject(EVENT_OUTBOX) private readonly outbox: EventOutbox,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
  ) {
    this.counter = new CodeFailureCounter(redis, config.IDENTITY_CODE_FAILURE_WINDOW);
  }

  /** 429 account_locked once the account is past the consecutive-failure limit; call it only before asking for a second factor. */
  async assertNotLocked(accountId: string): Promise<void> {
    if ((await this.counter.count(accountId)) >= this.config.IDENTITY_CODE_FAILURE_LOCK_AFTER) {
      throw new DomainError(
        'account_locked',
        'Too many wrong codes for this account; try again later or reset the password.',
        {
          retryAfter: await this.counter.retryAfterSeconds(accountId),
        },
      );
    }
  }

  /**
   * Runs a second-factor check, counting a wrong code against the account and
   * clearing the count on success. `challengeId`: the otp challenge checked,
   * if any, so that its lock counts once.
   */
  async check<T>(
    account: Pick<AccountEntity, 'id' | 'email' | 'locale'>,
    purpose: string,
    run: () => Promise<T>,
    challengeId?: string,
  ): Promise<T> {
    let result: T;
    try {
      result = await run();
    } catch (error) {
      const counts = failureCount(error, challengeId);
      if (counts !== 'none')
        await this.failed(account, purpose, counts === 'once' ? `lock:${challengeId}` : undefined);
      throw error;
    }
    await this.counter.clear(account.id);
    return result;
  }

  async clear(accountId: string): Promise<void> {
    await this.counter.clear(accountId);
  }

  private async failed(
    account: Pick<AccountEntity, 'id' | 'email' | 'locale'>,
    purpose: string,
    once: string | undefined,
  ): Promise<void> {
    const count = await this.counter.fail(account.id, once);
    if (count === undefined || count < this.config.IDENTITY_FAILED_CODES_ALERT_AFTER) return;
    if (!(await this.counter.claimAlert(account.id))) return;
    this.logger.warn(
      { accountId: account.id, consecutiveFailures: count, purpose },
      'wrong codes in a row',
    );
    try {
      await this.db.transaction((m) =>
        queueAlert(
          this.outbox,
          m,
          { accountId: account.id, email: account.email, locale: account.locale },
          'security.failed_codes',
          { attempts: count, purpose },
          // One alert a window: the window's start names it.
          `${account.id}:${this.clock.nowMs()}`,
        ),
      );
    } catch (error) {
      // The person's answer is the wrong code's, not this; a later failure tries the alert again.
      this.logger.warn(
        { accountId: account.id, err: error instanceof Error ? error.message : String(error) },
        'failed-codes alert not queued',
      );
      await this.counter.releaseAlert(account.id).catch(() => undefined);
    }
  }
}
