import { signinResendPlan } from './signin-resend';

const challengeId = '3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b10';
const phoneA = '5f0c7c1a-7a9e-4c57-8d0e-4a1c2b3d4e5f';
const phoneB = '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10';
const email = 'a@example.com';

describe('signinResendPlan', () => {
  it('resends the challenge, without naming a number, while it was started to the primary number', () => {
    const login = { challengeId, challengePhoneId: phoneA };
    for (const target of ['sms', 'voice'] as const) {
      expect(signinResendPlan(login, target, { email, primaryPhoneId: phoneA })).toEqual({
        kind: 'resend',
        challengeId,
      });
    }
  });

  it('starts a new challenge to the primary number once another number is primary (changed or switched)', () => {
    const login = { challengeId, challengePhoneId: phoneA };
    expect(signinResendPlan(login, 'sms', { email, primaryPhoneId: phoneB })).toEqual({
      kind: 'start',
    });
    expect(signinResendPlan(login, 'voice', { email, primaryPhoneId: phoneB })).toEqual({
      kind: 'start',
    });
  });

  it('starts a new challenge for a phone channel when the challenge went to the e-mail, or its number is unknown', () => {
    expect(
      signinResendPlan({ challengeId, challengePhoneId: null }, 'sms', {
        email,
        primaryPhoneId: phoneA,
      }),
    ).toEqual({ kind: 'start' });
    expect(signinResendPlan({ challengeId }, 'voice', { email, primaryPhoneId: phoneA })).toEqual({
      kind: 'start',
    });
    expect(
      signinResendPlan({ challengeId, challengePhoneId: phoneA }, 'sms', {
        email,
        primaryPhoneId: undefined,
      }),
    ).toEqual({ kind: 'start' });
  });

  it("names the account's e-mail on an e-mail resend, whichever number the challenge went to", () => {
    expect(
      signinResendPlan({ challengeId, challengePhoneId: phoneA }, 'email', {
        email,
        primaryPhoneId: phoneB,
      }),
    ).toEqual({
      kind: 'resend',
      challengeId,
      to: email,
    });
  });

  it('starts a challenge when the login has none (an authenticator was asked first)', () => {
    expect(
      signinResendPlan({ challengeId: null, challengePhoneId: null }, 'sms', {
        email,
        primaryPhoneId: phoneA,
      }),
    ).toEqual({ kind: 'start' });
    expect(
      signinResendPlan({ challengeId: null }, 'email', { email, primaryPhoneId: phoneA }),
    ).toEqual({ kind: 'start' });
  });
});
