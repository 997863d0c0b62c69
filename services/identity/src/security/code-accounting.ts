import { Inject, Injectable } from '@nestjs/common';
import { DomainError, type Logger, PLATFORM_LOGGER } from '@phonegate/platform';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import type { AccountEntity } from '../accounts/account.entity';
import type { IdentityConfig } from '../config/identity.config';
import type { EventOutbox } from '../events/event-outbox';
import { EVENT_OUTBOX, IDENTITY_CONFIG, IDENTITY_REDIS } from '../tokens';
import { queueAlert } from './security-alerts';
import { CodeFailureCounter } from './signin-throttle';

/** Wrong-code answers of the otp service that count as a failure of the account. */
const FAILURES = new Set(['code_mismatch', 'too_many_attempts']);

/**
 * Consecutive wrong codes of an account across its challenges (sign-in,
 * step-up, password reset): C8's per-account lock and the
 * `security.failed_codes` alert after a few in a row.
 */
@Injectable()
export class CodeAccounting {
  private readonly counter: CodeFailureCounter;

  constructor(
    private readonly db: DataSource,
    @Inject(IDENTITY_REDIS) redis: Redis,
    @Inject(IDENTITY_CONFIG) private readonly config: IdentityConfig,
    @Inject(EVENT_OUTBOX) private readonly outbox: EventOutbox,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
  ) {
    this.counter = new CodeFailureCounter(redis, config.IDENTITY_CODE_FAILURE_WINDOW);
  }

  /** 429 account_locked once the account is past the consecutive-failure limit. */
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

  /** Runs a code check, counting a wrong code against the account and clearing the count on success. */
  async check<T>(
    account: Pick<AccountEntity, 'id' | 'email' | 'locale'>,
    purpose: string,
    run: () => Promise<T>,
  ): Promise<T> {
    let result: T;
    try {
      result = await run();
    } catch (error) {
      if (error instanceof DomainError && FAILURES.has(error.code))
        await this.failed(account, purpose);
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
  ): Promise<void> {
    const count = await this.counter.fail(account.id);
    const every = this.config.IDENTITY_FAILED_CODES_ALERT_AFTER;
    if (count % every !== 0) return;
    this.logger.warn(
      { accountId: account.id, consecutiveFailures: count, purpose },
      'wrong codes in a row',
    );
    await this.db.transaction((m) =>
      queueAlert(
        this.outbox,
        m,
        { accountId: account.id, email: account.email, locale: account.locale },
        'security.failed_codes',
        { attempts: count, purpose },
        `${account.id}:${Date.now()}`,
      ),
    );
  }
}
