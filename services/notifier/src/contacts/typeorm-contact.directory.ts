import { type DataSource, IsNull, Not, type Repository } from 'typeorm';
import { ContactAccountRecord } from './contact-account.entity';
import {
  type AccountEmail,
  ContactDirectory,
  type Preferences,
  type VerifiedNumber,
} from './contact-directory';
import { ContactPhoneRecord } from './contact-phone.entity';

/** The contact projection on TypeORM. Every write is idempotent (events can arrive twice). */
export class TypeOrmContactDirectory extends ContactDirectory {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  async accountCreated(id: string, email: string, locale: string, at: Date): Promise<void> {
    const accountId = accountKey(id);
    // The preference column is left out so a choice made before this event arrived survives it.
    await this.dataSource
      .getRepository(ContactAccountRecord)
      .upsert({ accountId, email, locale, updatedAt: at }, ['accountId']);
  }

  async phoneVerified(
    id: string,
    phoneId: string,
    e164: string,
    primary: boolean,
    at: Date,
    replacedPhoneId?: string,
  ): Promise<void> {
    const accountId = accountKey(id);
    await this.dataSource.transaction(async (m) => {
      const phones = m.getRepository(ContactPhoneRecord);
      if (replacedPhoneId)
        await phones.update(
          { phoneId: replacedPhoneId, removedAt: IsNull() },
          { removedAt: at, primary: false },
        );
      const existing = await phones.findOneBy({ phoneId });
      if (existing?.removedAt) return; // removed after it was verified: a late event must not revive it
      if (existing) {
        // Known already: a redelivery, or a verification heard after the number's later
        // primary_changed (or another's). Its primary flag is older than the row's: kept.
        if (at < existing.verifiedAt) await phones.update({ phoneId }, { verifiedAt: at });
        return;
      }
      // Heard for the first time, but perhaps late: a primary flag older than the account's
      // current primary (made primary, or verified primary, after `at`) does not demote it.
      const first = primary && !(await newerPrimary(phones, accountId, phoneId, at));
      if (first) await phones.update({ accountId, phoneId: Not(phoneId) }, { primary: false });
      await phones.upsert(
        {
          phoneId,
          accountId,
          e164,
          primary: first,
          primarySince: first ? at : null,
          verifiedAt: at,
        },
        ['phoneId'],
      );
    });
  }

  async primaryChanged(id: string, phoneId: string, e164: string, at: Date): Promise<void> {
    const accountId = accountKey(id);
    await this.dataSource.transaction(async (m) => {
      const phones = m.getRepository(ContactPhoneRecord);
      const existing = await phones.findOneBy({ phoneId });
      if (existing?.removedAt) return;
      if (await newerPrimary(phones, accountId, phoneId, at)) {
        // A primary_changed older than another number's: the number is known, not primary.
        if (!existing)
          await phones.insert({ phoneId, accountId, e164, primary: false, verifiedAt: at });
        return;
      }
      await phones.update({ accountId, phoneId: Not(phoneId) }, { primary: false });
      await phones.upsert(
        {
          phoneId,
          accountId,
          e164,
          primary: true,
          primarySince: at,
          verifiedAt: existing?.verifiedAt ?? at,
        },
        ['phoneId'],
      );
    });
  }

  async phoneRemoved(id: string, phoneId: string, e164: string, at: Date): Promise<void> {
    const accountId = accountKey(id);
    await this.dataSource.transaction(async (m) => {
      // A removal that overtook the number's verification leaves a tombstone for it to find.
      await m
        .createQueryBuilder()
        .insert()
        .into(ContactPhoneRecord)
        .values({ phoneId, accountId, e164, primary: false, verifiedAt: at, removedAt: at })
        .orIgnore()
        .execute();
      await m
        .getRepository(ContactPhoneRecord)
        .update({ phoneId, removedAt: IsNull() }, { removedAt: at, primary: false });
    });
  }

  async setPreferences(id: string, orderUpdates: boolean, at: Date): Promise<Preferences> {
    const accountId = accountKey(id);
    await this.dataSource
      .getRepository(ContactAccountRecord)
      .upsert({ accountId, orderUpdates, updatedAt: at }, ['accountId']);
    return { accountId, orderUpdates };
  }

  async emailOf(id: string): Promise<AccountEmail | undefined> {
    const accountId = accountKey(id);
    const row = await this.dataSource.getRepository(ContactAccountRecord).findOneBy({ accountId });
    return row?.email ? { accountId, email: row.email, locale: row.locale } : undefined;
  }

  async primaryNumberOf(id: string): Promise<VerifiedNumber | undefined> {
    const accountId = accountKey(id);
    const phones = await this.dataSource.getRepository(ContactPhoneRecord).find({
      where: { accountId, removedAt: IsNull() },
      order: { primary: 'DESC', verifiedAt: 'ASC' },
      take: 1,
    });
    const phone = phones[0];
    return phone ? this.withAccount(phone) : undefined;
  }

  async ownerOfNumber(e164: string): Promise<VerifiedNumber | undefined> {
    const phone = await this.dataSource
      .getRepository(ContactPhoneRecord)
      .findOne({ where: { e164, removedAt: IsNull() }, order: { verifiedAt: 'DESC' } });
    return phone ? this.withAccount(phone) : undefined;
  }

  private async withAccount(phone: ContactPhoneRecord): Promise<VerifiedNumber> {
    const account = await this.dataSource
      .getRepository(ContactAccountRecord)
      .findOneBy({ accountId: phone.accountId });
    return {
      accountId: phone.accountId,
      e164: phone.e164,
      locale: account?.locale ?? null,
      orderUpdates: account?.orderUpdates ?? true,
    };
  }
}

/**
 * Another current primary number of the account that became primary after `at` (rows written
 * before `primary_since` was kept count from their verification).
 */
async function newerPrimary(
  phones: Repository<ContactPhoneRecord>,
  accountId: string,
  phoneId: string,
  at: Date,
): Promise<boolean> {
  const primaries = await phones.findBy({
    accountId,
    phoneId: Not(phoneId),
    primary: true,
    removedAt: IsNull(),
  });
  return primaries.some((p) => (p.primarySince ?? p.verifiedAt) > at);
}

/**
 * Account ids are identity's UUIDs, compared in lower case (as the preferences route takes
 * them): a storefront that sends one in upper case names the same account.
 */
function accountKey(accountId: string): string {
  return accountId.toLowerCase();
}
