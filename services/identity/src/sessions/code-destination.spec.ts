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
    expect(stillVerified(phones, null)).toBe(false);
  });

  it('takes a code whose number was not kept (stored before the upgrade) as before', () => {
    expect(stillVerified(phones, undefined)).toBe(true);
    expect(stillVerified([], undefined)).toBe(true);
  });
});
