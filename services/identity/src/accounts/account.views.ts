import type { PhoneEntity } from '../phones/phone.entity';
import type { AccountEntity } from './account.entity';

export interface TwoStepView {
  enabled: boolean;
  method: AccountEntity['twoStepMethod'];
  backupMethod: AccountEntity['twoStepBackupMethod'];
}

export interface PhoneView {
  phoneId: string;
  number: string;
  country: string | null;
  status: PhoneEntity['status'];
  primary: boolean;
  replacesPhoneId: string | null;
  verifiedAt: string | null;
}

export function twoStepView(a: AccountEntity): TwoStepView {
  return { enabled: a.twoStepEnabled, method: a.twoStepMethod, backupMethod: a.twoStepBackupMethod };
}

export function phoneView(p: PhoneEntity): PhoneView {
  return {
    phoneId: p.id,
    number: p.e164,
    country: p.country,
    status: p.status,
    primary: p.primary,
    replacesPhoneId: p.replacesPhoneId,
    verifiedAt: p.verifiedAt ? p.verifiedAt.toISOString() : null,
  };
}

/** Verified first, primary first, then oldest first. */
export function sortPhones(phones: PhoneEntity[]): PhoneEntity[] {
  return [...phones].sort(
    (a, b) =>
      Number(b.primary) - Number(a.primary) ||
      Number(b.status === 'verified') - Number(a.status === 'verified') ||
      a.createdAt.getTime() - b.createdAt.getTime(),
  );
}

export function accountView(a: AccountEntity, phones: PhoneEntity[]) {
  return {
    id: a.id,
    email: a.email,
    name: a.name,
    locale: a.locale,
    phones: sortPhones(phones).map(phoneView),
    twoStep: twoStepView(a),
    createdAt: a.createdAt.toISOString(),
  };
}
