import { IpCountryLookup, isNewLocation } from './ip-country';

describe('IpCountryLookup', () => {
  const lookup = new IpCountryLookup(
    [
      { cidr: '203.0.113.0/24', country: 'AU' },
      { cidr: '198.51.100.0/24', country: 'US' },
      { cidr: '2001:db8::/32', country: 'DE' },
    ],
    true,
  );

  it('finds the country of an address in a configured range', () => {
    expect(lookup.countryOf('203.0.113.7')).toBe('AU');
    expect(lookup.countryOf('198.51.100.200')).toBe('US');
    expect(lookup.countryOf('2001:db8::1')).toBe('DE');
  });

  it('answers null for an address outside every range or not an address', () => {
    expect(lookup.countryOf('10.0.0.1')).toBeNull();
    expect(lookup.countryOf('not-an-ip')).toBeNull();
  });

  it('prefers a well-formed gateway header when trusted', () => {
    expect(lookup.countryOf('203.0.113.7', 'fr')).toBe('FR');
    expect(lookup.countryOf('203.0.113.7', 'France')).toBe('AU');
  });

  it('ignores the header when not trusted', () => {
    const strict = new IpCountryLookup([{ cidr: '203.0.113.0/24', country: 'AU' }], false);
    expect(strict.countryOf('203.0.113.7', 'FR')).toBe('AU');
  });
});

describe('isNewLocation', () => {
  it('only when both are known and differ', () => {
    expect(isNewLocation('AU', 'US')).toBe(true);
    expect(isNewLocation('AU', 'AU')).toBe(false);
    expect(isNewLocation(null, 'US')).toBe(false);
    expect(isNewLocation('AU', null)).toBe(false);
  });
});
