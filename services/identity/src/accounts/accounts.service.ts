import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { accountCreatedV1 } from '@phonegate/contracts';
import { Clock, DomainError } from '@phonegate/platform';
import { DataSource, QueryFailedError } from 'typeorm';
import type { EventOutbox } from '../events/event-outbox';
import type { PasswordHasher } from '../security/password-hasher';
import { EVENT_OUTBOX, PASSWORD_HASHER } from '../tokens';
import { AccountEntity } from './account.entity';
import { findAccount, phonesOf } from './account.repository';
import { accountView } from './account.views';

export interface CreateAccount {
  email: string;
  password: string;
  name?: string;
  locale?: string;
}

@Injectable()
export class AccountsService {
  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    @Inject(PASSWORD_HASHER) private readonly hasher: PasswordHasher,
    @Inject(EVENT_OUTBOX) private readonly outbox: EventOutbox,
  ) {}

  async create(input: CreateAccount) {
    const email = input.email.trim();
    const emailNormalized = normalizeEmail(email);
    // A cheap check first so a taken address does not cost an argon2 hash;
    // the unique index decides under a race.
    if (await this.db.getRepository(AccountEntity).existsBy({ emailNormalized })) throw emailTaken();
    const passwordHash = await this.hasher.hash(input.password);
    const now = this.clock.now();
    const account = Object.assign(new AccountEntity(), {
      id: randomUUID(),
      email,
      emailNormalized,
      passwordHash,
      name: input.name ?? null,
      locale: input.locale ?? 'en',
      twoStepEnabled: false,
      twoStepMethod: null,
      twoStepBackupMethod: null,
      sessionsValidAfter: null,
      createdAt: now,
      updatedAt: now,
    } satisfies AccountEntity);
    try {
      await this.db.transaction(async (m) => {
        await m.getRepository(AccountEntity).insert(account);
        await this.outbox.add(m, accountCreatedV1, { accountId: account.id, email, locale: account.locale });
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw emailTaken();
      throw error;
    }
    return accountView(account, []);
  }

  async get(id: string) {
    const account = await findAccount(this.db, id);
    return accountView(account, await phonesOf(this.db, id));
  }

  /** Whether an account exists (the otp service asks before it keeps a factor for one it has not heard of). */
  async exists(accountId: string): Promise<{ accountId: string; exists: boolean }> {
    const id = accountId.toLowerCase();
    return { accountId: id, exists: await this.db.getRepository(AccountEntity).existsBy({ id }) };
  }
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

function emailTaken(): DomainError {
  return new DomainError('email_taken', 'An account with this e-mail address exists.');
}

/** PostgreSQL 23505 (or SQLite's UNIQUE constraint) from any TypeORM write. */
export function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const driverError = (error as QueryFailedError & { driverError?: { code?: string; message?: string } }).driverError;
  return driverError?.code === '23505' || /UNIQUE constraint failed/i.test(driverError?.message ?? error.message);
}
