import { reported } from './reported-challenge';

describe('reported (a challenge whose code the owner reported)', () => {
  it('is a challenge the report ended', () => {
    expect(reported({ endReason: 'reported' })).toBe(true);
  });

  it('is a challenge reported after it had already ended (expired, locked): marked, end reason unchanged', () => {
    expect(reported({ reported: true })).toBe(true);
    expect(reported({ endReason: 'replaced', reported: true })).toBe(true);
  });

  it('is not a challenge nobody reported, nor an unknown one (or an older otp without the mark)', () => {
    expect(reported({})).toBe(false);
    expect(reported({ endReason: 'replaced' })).toBe(false);
    expect(reported(undefined)).toBe(false);
  });
});
