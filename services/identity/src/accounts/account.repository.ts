import { DomainError } from '@phonegate/platform';
import type { DataSource, EntityManager } from 'typeorm';
import { PhoneEntity } from '../phones/phone.entity';
import { AccountEntity } from './account.entity';

/*
 * The rows of the hot paths (phone add, verification, resend, sign-in) are read with plain
 * parameterised SQL, not TypeORM's query builder: building the query and hydrating the entity
 * cost more CPU than the round trip on a sale day (bench/identity). PostgreSQL SQL, as the
 * outbox's: production, the tests and the embedded mode (PGlite) all run PostgreSQL.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids from a URL: anything not a UUID is simply not found. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export const ACCOUNT_COLUMNS =
  'id, email, email_normalized, password_hash, name, locale, two_step_enabled, two_step_method, two_step_backup_method, sessions_valid_after, created_at, updated_at';

export const PHONE_COLUMNS =
  'id, account_id, e164, country, line_type, status, is_primary, channel, challenge_id, replaces_phone_id, created_at, verified_at';

export interface AccountRow {
  id: string;
  email: string;
  email_normalized: string;
  password_hash: string;
  name: string | null;
  locale: string;
  two_step_enabled: boolean;
  two_step_method: AccountEntity['twoStepMethod'];
  two_step_backup_method: AccountEntity['twoStepBackupMethod'];
  sessions_valid_after: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface PhoneRow {
  id: string;
  account_id: string;
  e164: string;
  country: string | null;
  line_type: string;
  status: PhoneEntity['status'];
  is_primary: boolean;
  channel: PhoneEntity['channel'];
  challenge_id: string | null;
  replaces_phone_id: string | null;
  created_at: Date;
  verified_at: Date | null;
}

export function accountFromRow(r: AccountRow): AccountEntity {
  const a = new AccountEntity();
  a.id = r.id;
  a.email = r.email;
  a.emailNormalized = r.email_normalized;
  a.passwordHash = r.password_hash;
  a.name = r.name;
  a.locale = r.locale;
  a.twoStepEnabled = r.two_step_enabled;
  a.twoStepMethod = r.two_step_method;
  a.twoStepBackupMethod = r.two_step_backup_method;
  a.sessionsValidAfter = r.sessions_valid_after;
  a.createdAt = r.created_at;
  a.updatedAt = r.updated_at;
  return a;
}

export function phoneFromRow(r: PhoneRow): PhoneEntity {
  const p = new PhoneEntity();
  p.id = r.id;
  p.accountId = r.account_id;
  p.e164 = r.e164;
  p.country = r.country;
  p.lineType = r.line_type;
  p.status = r.status;
  p.primary = r.is_primary;
  p.channel = r.channel;
  p.challengeId = r.challenge_id;
  p.replacesPhoneId = r.replaces_phone_id;
  p.createdAt = r.created_at;
  p.verifiedAt = r.verified_at;
  return p;
}

function notFound(): DomainError {
  return new DomainError('not_found', 'No such account.');
}

export async function findAccount(m: EntityManager | DataSource, id: string): Promise<AccountEntity> {
  if (!isUuid(id)) throw notFound();
  const rows = await m.query<AccountRow[]>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = $1`, [id]);
  if (!rows[0]) throw notFound();
  return accountFromRow(rows[0]);
}

/** The account of this e-mail address (normalised), if any. */
export async function findAccountByEmail(m: EntityManager | DataSource, emailNormalized: string): Promise<AccountEntity | undefined> {
  const rows = await m.query<AccountRow[]>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE email_normalized = $1`, [emailNormalized]);
  return rows[0] ? accountFromRow(rows[0]) : undefined;
}

/**
 * Loads the account row FOR UPDATE: every change to an account's phones and
 * two-step settings runs under this lock, so limits and flags stay coherent
 * under concurrent requests. Read the rows the lock guards with a later
 * statement: one that waited for the lock sees them as committed since.
 */
export async function lockAccount(m: EntityManager, id: string): Promise<AccountEntity> {
  if (!isUuid(id)) throw notFound();
  const rows = await m.query<AccountRow[]>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = $1 FOR UPDATE`, [id]);
  if (!rows[0]) throw notFound();
  return accountFromRow(rows[0]);
}

export async function phonesOf(m: EntityManager | DataSource, accountId: string): Promise<PhoneEntity[]> {
  const rows = await m.query<PhoneRow[]>(`SELECT ${PHONE_COLUMNS} FROM phones WHERE account_id = $1`, [accountId]);
  return rows.map(phoneFromRow);
}

export function primaryPhone(phones: readonly PhoneEntity[]): PhoneEntity | undefined {
  return phones.find((p) => p.primary && p.status === 'verified');
}
