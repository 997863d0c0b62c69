import { DomainError } from '@phonegate/platform';
import type { DataSource, EntityManager } from 'typeorm';
import { PhoneEntity } from '../phones/phone.entity';
import { AccountEntity } from './account.entity';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids from a URL: anything not a UUID is simply not found. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export async function findAccount(m: EntityManager | DataSource, id: string): Promise<AccountEntity> {
  const account = isUuid(id) ? await m.getRepository(AccountEntity).findOneBy({ id }) : null;
  if (!account) throw new DomainError('not_found', 'No such account.');
  return account;
}

/**
 * Loads the account row FOR UPDATE: every change to an account's phones and
 * two-step settings runs under this lock, so limits and flags stay coherent
 * under concurrent requests. (The embedded SQLite mode runs one writer anyway.)
 */
export async function lockAccount(m: EntityManager, id: string): Promise<AccountEntity> {
  if (!isUuid(id)) throw new DomainError('not_found', 'No such account.');
  const postgres = m.connection.options.type === 'postgres';
  const account = await m
    .getRepository(AccountEntity)
    .findOne({ where: { id }, ...(postgres ? { lock: { mode: 'pessimistic_write' as const } } : {}) });
  if (!account) throw new DomainError('not_found', 'No such account.');
  return account;
}

export async function phonesOf(m: EntityManager | DataSource, accountId: string): Promise<PhoneEntity[]> {
  return m.getRepository(PhoneEntity).find({ where: { accountId } });
}

export function primaryPhone(phones: readonly PhoneEntity[]): PhoneEntity | undefined {
  return phones.find((p) => p.primary && p.status === 'verified');
}
