import { keyPart } from './signin-throttle';

describe('keyPart', () => {
  it('hides the identifier and is stable', () => {
    expect(keyPart('ana@example.com')).toBe(keyPart('ana@example.com'));
    expect(keyPart('ana@example.com')).not.toContain('ana');
    expect(keyPart('ana@example.com')).toHaveLength(32);
  });
});
