import type { PhoneEntity } from '../phones/phone.entity';

/**
 * Whether the number a code went to (its phone id: the row of a verified number keeps its
 * E.164) is still a verified number of the account: a code sent to a number since removed
 * must not finish a sign-in or a reset, whoever holds that phone now. `undefined`: a sign-in
 * or reset stored before the number was kept with it (within one login or reset TTL of the
 * upgrade), which cannot be checked and is taken as before; `null`: no number.
 */
export function stillVerified(phones: readonly Pick<PhoneEntity, 'id' | 'status'>[], phoneId: string | null | undefined): boolean {
  if (phoneId === undefined) return true;
  return phoneId !== null && phones.some((p) => p.id === phoneId && p.status === 'verified');
}
