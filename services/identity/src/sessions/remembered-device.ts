import type { DataSource, EntityManager } from 'typeorm';
import { isNewLocation } from './ip-country';

/** What a sign-in reads of its device: until when it is remembered, and its last country. */
export interface DeviceRecord {
  remembered_until: Date | null;
  last_country: string | null;
}

/**
 * How a sign-in's device stands with two-step on: `remembered` (the password alone signs in)
 * while it is remembered and its country did not change; else the reason a code is asked:
 * `new_location` for a remembered device seen from another country, `new_device` otherwise.
 */
export type DeviceStanding = 'remembered' | 'new_location' | 'new_device';

export function deviceStanding(
  known: DeviceRecord | undefined,
  country: string | null,
  nowMs: number,
): DeviceStanding {
  const remembered = Boolean(known?.remembered_until && known.remembered_until.getTime() > nowMs);
  if (!remembered) return 'new_device';
  return isNewLocation(known?.last_country ?? null, country) ? 'new_location' : 'remembered';
}

/** The account's record of a device, if it was ever seen. */
export async function findDevice(
  m: EntityManager | DataSource,
  accountId: string,
  deviceId: string,
): Promise<DeviceRecord | undefined> {
  const rows = await m.query<DeviceRecord[]>(
    'SELECT remembered_until, last_country FROM devices WHERE account_id = $1 AND device_id = $2',
    [accountId, deviceId],
  );
  return rows[0];
}
