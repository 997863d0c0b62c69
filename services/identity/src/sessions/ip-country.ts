import { BlockList, isIP } from 'node:net';

export interface IpCountryEntry {
  cidr: string;
  country: string;
}

/**
 * Where a sign-in comes from, as an ISO 3166 alpha-2 country, or null when
 * unknown. The gateway's `x-client-country` header wins when trusted (it holds
 * a real GeoIP database); otherwise a small configured table of ranges
 * (IDENTITY_IP_COUNTRIES) is consulted. Unknown never triggers a challenge by
 * itself: only a known country that differs from the device's last one does.
 */
export class IpCountryLookup {
  private readonly tables: { country: string; list: BlockList }[];

  constructor(
    entries: readonly IpCountryEntry[],
    private readonly trustHeader: boolean,
  ) {
    this.tables = entries.map((e) => {
      const [address, bits] = e.cidr.split('/') as [string, string];
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      const list = new BlockList();
      list.addSubnet(address, Number(bits), family);
      return { country: e.country, list };
    });
  }

  countryOf(ip: string, header?: string | null): string | null {
    if (this.trustHeader && header && /^[A-Za-z]{2}$/.test(header.trim())) return header.trim().toUpperCase();
    const family = isIP(ip);
    if (family === 0) return null;
    for (const t of this.tables) {
      if (t.list.check(ip, family === 6 ? 'ipv6' : 'ipv4')) return t.country;
    }
    return null;
  }
}

/** A location change is only claimed when both countries are known and differ. */
export function isNewLocation(lastCountry: string | null, current: string | null): boolean {
  return lastCountry !== null && current !== null && lastCountry !== current;
}
