import { stillVerified } from './code-destination';

describe('stillVerified', () => {
  const phones = [
    { id: 'a', status: 'verified' as const },
    { id: 'b', status: 'pending' as const },
  ];

  it('is true only for a verified number the account still has', () => {
    expect(stillVerified(phones, 'a')).toBe(true);
    expect(stillVerified(phones, 'b')).toBe(false);
    expect(stillVerified(phones, 'c')).toBe(false);
    expect(stillVerified([], 'a')).toBe(false);
  });

  it('is false when the number was not kept', () => {
    expect(stillVerified(phones, undefined)).toBe(false);
    expect(stillVerified(phones, null)).toBe(false);
  });
});
