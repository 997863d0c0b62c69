import type { Clock, Logger } from '@phonegate/platform';
import { DomainError } from '@phonegate/platform';
import type { DataSource } from 'typeorm';
import { KnownAccount } from './known-account.entity';

/** What otp needs of identity about one account: does it exist (`identity.account.exists.v1`). */
export interface AccountLookup {
  /** Throws DomainError `service_unavailable` when identity does not answer in time. */
  exists(accountId: string): Promise<boolean>;
}

/** How otp learnt of an account: its creation event, or identity's answer to a lookup. */
export type KnownBy = 'event' | 'lookup';

/**
 * The accounts otp knows identity has, so that it keeps factors (TOTP authenticators, backup
 * codes) only for real accounts: a storefront key cannot enrol one for an id it made up, and no
 * state piles up under ids that never exist.
 *
 * Why a projection plus a lookup (and not either alone): identity announces every account
 * (`identity.account.created.v1`, through its outbox) and otp keeps the ids in PostgreSQL, so an
 * enrolment does not depend on identity being up. The event can trail the account by a moment
 * (the storefront enrols right after the 201), and accounts made before this version never had
 * their event seen by otp: for an id not in the table, otp asks identity over the bus and keeps
 * a yes (a durable positive cache: the backfill happens by use). A no is not kept (the account may
 * be created the next second) and is refused 404 `not_found`; no answer in time is 503 (fail
 * closed: nothing is kept for an account nobody vouched for). identity never deletes an account
 * (the event catalogue has no deletion), so an id once known stays known.
 */
export class KnownAccounts {
  constructor(
    private readonly dataSource: DataSource,
    private readonly lookup: AccountLookup,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Keeps an account id (idempotent: a second time, from either source, changes nothing). */
  async remember(accountId: string, by: KnownBy): Promise<void> {
    await this.dataSource
      .createQueryBuilder()
      .insert()
      .into(KnownAccount)
      .values({ accountId: accountId.toLowerCase(), source: by, knownAt: this.clock.now() })
      .orIgnore()
      .execute();
  }

  async isKnown(accountId: string): Promise<boolean> {
    return this.dataSource
      .getRepository(KnownAccount)
      .existsBy({ accountId: accountId.toLowerCase() });
  }

  /** Passes for an account identity has; 404 `not_found` for one it does not; 503 if it cannot tell. */
  async assertKnown(accountId: string): Promise<void> {
    if (await this.isKnown(accountId)) return;
    if (!(await this.lookup.exists(accountId))) {
      this.logger.info({ accountId }, 'factor refused: identity has no such account');
      throw new DomainError('not_found', 'No such account.');
    }
    await this.remember(accountId, 'lookup');
  }
}
