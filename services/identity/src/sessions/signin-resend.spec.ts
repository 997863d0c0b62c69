import { DomainError } from '@phonegate/platform';
import { refusalOf } from '@phonegate/platform/testing';
import { loginSends, refusedDestination, sendsBeforeRestart, signinResendPlan } from './signin-resend';

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

  it('starts a new challenge for a phone channel when the challenge went to the e-mail, or there is no primary number', () => {
    expect(
      signinResendPlan({ challengeId, challengePhoneId: null }, 'sms', {
        email,
        primaryPhoneId: phoneA,
      }),
    ).toEqual({ kind: 'start' });
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

  it('a login stored before it kept its number resends naming the primary number, starting anew only if otp refuses it', () => {
    const number = '+14155550123';
    for (const target of ['sms', 'voice'] as const) {
      expect(
        signinResendPlan({ challengeId }, target, {
          email,
          primaryPhoneId: phoneA,
          primaryNumber: number,
        }),
      ).toEqual({ kind: 'resend', challengeId, to: number, orStart: true });
    }
    expect(signinResendPlan({ challengeId }, 'sms', { email, primaryPhoneId: undefined })).toEqual({
      kind: 'start',
    });
    expect(
      signinResendPlan({ challengeId }, 'email', {
        email,
        primaryPhoneId: phoneA,
        primaryNumber: number,
      }),
    ).toEqual({
      kind: 'resend',
      challengeId,
      to: email,
    });
  });
});

describe('refusedDestination', () => {
  it("is otp's 422 on the resend's number only", () => {
    const on = (field: string) =>
      new DomainError('validation_failed', 'invalid', {
        errors: [{ field, code: 'not_allowed', message: 'x' }],
      });
    expect(refusedDestination(on('to'))).toBe(true);
    expect(refusedDestination(on('channel'))).toBe(false);
    expect(refusedDestination(new DomainError('resend_cooldown', 'later', { retryAfter: 3 }))).toBe(
      false,
    );
    expect(refusedDestination(new Error('to'))).toBe(false);
  });
});

describe('sendsBeforeRestart', () => {
  const now = Date.parse('2026-12-07T12:00:00.000Z');
  const login = { expiresAt: now + 300_000 };
  const view = (
    status: 'pending' | 'expired' | 'locked' | 'approved',
    sends: number,
    resendInMs: number,
  ) => ({
    status,
    sends,
    resendAvailableAt: new Date(now + resendInMs).toISOString(),
  });

  it("counts the login's sends so far once the current challenge's cooldown has passed", () => {
    expect(sendsBeforeRestart(view('pending', 2, -1), login, now, 5)).toBe(2);
    expect(sendsBeforeRestart(view('pending', 1, 0), { ...login, sentBefore: 2 }, now, 5)).toBe(3);
    expect(sendsBeforeRestart(view('expired', 1, 60_000), login, now, 5)).toBe(1);
    expect(sendsBeforeRestart(undefined, { ...login, sentBefore: 1 }, now, 5)).toBe(1);
  });

  it('keeps the current challenge cooldown (429 resend_cooldown with the honest wait)', () => {
    expect(refusalOf(() => sendsBeforeRestart(view('pending', 1, 29_500), login, now, 5))).toEqual({
      code: 'resend_cooldown',
      retryAfter: 30,
    });
  });

  it("refuses once the login's challenges sent the most codes, until the sign-in ends", () => {
    expect(
      refusalOf(() =>
        sendsBeforeRestart(view('pending', 2, -1), { ...login, sentBefore: 3 }, now, 5),
      ),
    ).toEqual({
      code: 'rate_limited',
      retryAfter: 300,
    });
    expect(
      refusalOf(() => sendsBeforeRestart(undefined, { ...login, sentBefore: 5 }, now, 5)),
    ).toEqual({
      code: 'rate_limited',
      retryAfter: 300,
    });
  });

  it("keeps the sign-in's cooldown, doubling across its challenges, when it is later than otp's of the challenge", () => {
    // Send 3 of the sign-in 100 s ago (its second challenge's first): 120 s of cooldown, though otp's own is over.
    const kept = { ...login, challengeId, sentBefore: 2, lastSentAt: now - 100_000, baseMs: 30_000 };
    expect(refusalOf(() => sendsBeforeRestart(view('pending', 1, -70_000), kept, now, 5))).toEqual({
      code: 'resend_cooldown',
      retryAfter: 20,
    });
    expect(sendsBeforeRestart(view('pending', 1, -70_000), { ...kept, lastSentAt: now - 120_000 }, now, 5)).toBe(3);
    expect(sendsBeforeRestart(view('pending', 1, -70_000), { ...kept, capMs: 60_000 }, now, 5)).toBe(3);
  });

  it('keeps a challenge locked by wrong codes locked', () => {
    expect(refusalOf(() => sendsBeforeRestart(view('locked', 1, -1), login, now, 5))).toEqual({
      code: 'too_many_attempts',
      retryAfter: 300,
    });
  });
});

describe('loginSends', () => {
  it("is the sign-in's record of sends once a resend started a new challenge, nothing before", () => {
    expect(loginSends({ challengeId, sentBefore: 2 })).toBeUndefined();
    expect(loginSends({ challengeId: null, sentBefore: 2, lastSentAt: 1, baseMs: 30_000 })).toBeUndefined();
    expect(loginSends({ challengeId, sentBefore: 2, lastSentAt: 1, baseMs: 30_000 })).toEqual({ challengeId, sentBefore: 2, lastSentAt: 1, baseMs: 30_000 });
    expect(loginSends({ challengeId, lastSentAt: 1, baseMs: 30_000, capMs: 60_000 })).toEqual({ challengeId, sentBefore: 0, lastSentAt: 1, baseMs: 30_000, capMs: 60_000 });
  });
});
