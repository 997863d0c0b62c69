import { credentialsEpoch, outdatedBy } from './login.store';

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

  it('compares the epoch the password was checked at, when the login kept it, whatever its start', () => {
    // Checked before a reset that committed after the login started: outdated.
    expect(outdatedBy({ startedAt: 3_000, expiresAt: 3_000 + ttl, validAfter: null }, new Date(2_000), ttl)).toBe(true);
    expect(outdatedBy({ startedAt: 3_000, expiresAt: 3_000 + ttl, validAfter: 1_000 }, new Date(2_000), ttl)).toBe(true);
    // Checked after the last reset (its epoch seen), or never reset: current.
    expect(outdatedBy({ startedAt: 1_000, expiresAt: 1_000 + ttl, validAfter: 2_000 }, new Date(2_000), ttl)).toBe(false);
    expect(outdatedBy({ startedAt: 1_000, expiresAt: 1_000 + ttl, validAfter: null }, null, ttl)).toBe(false);
    // A reset undone is not a thing: an epoch gone back is a change too.
    expect(outdatedBy({ expiresAt: ttl, validAfter: 2_000 }, null, ttl)).toBe(true);
  });
});

describe('credentialsEpoch', () => {
  it('is the instant in epoch ms, null while never reset', () => {
    expect(credentialsEpoch(null)).toBeNull();
    expect(credentialsEpoch(new Date(2_000))).toBe(2_000);
  });
});
