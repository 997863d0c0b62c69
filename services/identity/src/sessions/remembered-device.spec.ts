import { deviceStanding } from './remembered-device';

describe('deviceStanding', () => {
  const now = 1_000_000;

  it('is remembered while remembered_until is ahead and the country is the same or unknown', () => {
    expect(deviceStanding({ remembered_until: new Date(now + 1), last_country: 'GB' }, 'GB', now)).toBe('remembered');
    expect(deviceStanding({ remembered_until: new Date(now + 1), last_country: null }, 'US', now)).toBe('remembered');
    expect(deviceStanding({ remembered_until: new Date(now + 1), last_country: 'GB' }, null, now)).toBe('remembered');
  });

  it('is new_location for a remembered device seen from another country', () => {
    expect(deviceStanding({ remembered_until: new Date(now + 1), last_country: 'GB' }, 'US', now)).toBe('new_location');
  });

  it('is new_device for a device never seen, forgotten (a reset forgets them all) or whose remembering ran out', () => {
    expect(deviceStanding(undefined, 'GB', now)).toBe('new_device');
    expect(deviceStanding({ remembered_until: null, last_country: 'GB' }, 'GB', now)).toBe('new_device');
    expect(deviceStanding({ remembered_until: new Date(now), last_country: 'GB' }, 'GB', now)).toBe('new_device');
    expect(deviceStanding({ remembered_until: new Date(now - 1), last_country: 'GB' }, 'US', now)).toBe('new_device');
  });
});
