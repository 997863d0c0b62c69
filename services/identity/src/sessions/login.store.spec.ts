import { outdatedBy } from './login.store';

describe('outdatedBy', () => {
  const ttl = 600_000;

  it('is false while the password was never reset', () => {
    expect(outdatedBy({ startedAt: 1_000, expiresAt: 1_000 + ttl }, null, ttl)).toBe(false);
  });

  it('is true for a sign-in started before (or at) the last reset, false for one started after', () => {
    expect(outdatedBy({ startedAt: 1_000, expiresAt: 1_000 + ttl }, new Date(2_000), ttl)).toBe(true);
    expect(outdatedBy({ startedAt: 2_000, expiresAt: 2_000 + ttl }, new Date(2_000), ttl)).toBe(true);
    expect(outdatedBy({ startedAt: 2_001, expiresAt: 2_001 + ttl }, new Date(2_000), ttl)).toBe(false);
  });

  it('takes the start of a login stored without one from its expiry', () => {
    expect(outdatedBy({ expiresAt: 1_000 + ttl }, new Date(2_000), ttl)).toBe(true);
    expect(outdatedBy({ expiresAt: 3_000 + ttl }, new Date(2_000), ttl)).toBe(false);
  });
});
