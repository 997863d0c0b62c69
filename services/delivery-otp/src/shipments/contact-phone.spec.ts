import { callingCodeAllowed } from './contact-phone';

describe('callingCodeAllowed (SECURITY S3)', () => {
  const policy = (allowed: string[], denied: string[] = []) => ({ allowed, denied });

  it('allows every calling code by default', () => {
    for (const phone of ['+14155550123', '+447911123456', '+4915123456789', '+2348031234567']) expect(callingCodeAllowed(phone, policy([]))).toBe(true);
  });

  it('refuses a denied calling code, even when it is also allowed', () => {
    expect(callingCodeAllowed('+2348031234567', policy([], ['234']))).toBe(false);
    expect(callingCodeAllowed('+447911123456', policy(['1', '44'], ['44']))).toBe(false);
    expect(callingCodeAllowed('+14155550123', policy([], ['234']))).toBe(true);
  });

  it('with an allow list, refuses every other calling code', () => {
    expect(callingCodeAllowed('+14155550123', policy(['1', '44']))).toBe(true);
    expect(callingCodeAllowed('+447911123456', policy(['1', '44']))).toBe(true);
    expect(callingCodeAllowed('+4915123456789', policy(['1', '44']))).toBe(false);
  });

  it('reads the calling code, not a prefix of it: +1 is not +12…, +4 is no code of +44', () => {
    expect(callingCodeAllowed('+4915123456789', policy(['4']))).toBe(false);
    expect(callingCodeAllowed('+14155550123', policy([], ['14']))).toBe(true);
  });

  it('holds a number the numbering plan cannot read to the listed codes its digits start with', () => {
    // +999 is no calling code: no list names it, so only the deny list can refuse it.
    expect(callingCodeAllowed('+9991234567', policy([]))).toBe(true);
    expect(callingCodeAllowed('+9991234567', policy(['1']))).toBe(false);
    expect(callingCodeAllowed('+9991234567', policy([], ['999']))).toBe(false);
  });
});
