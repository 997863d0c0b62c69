import {
  alternativesOf,
  mayUseAccountEmail,
  codeTtlMs,
  effectiveStatus,
  isTwoStep,
  nextChannel,
  reachableBy,
  resendCooldownMs,
  templateFor,
  toView,
} from './challenge.model';
import type { ChallengeRecord } from './challenge.model';

const ttl = {
  sign_in: 300_000,
  phone_verification: 600_000,
  step_up: 300_000,
  password_reset: 600_000,
  custom: 600_000,
  email: 1_800_000,
};

describe('challenge model', () => {
  it('lets a challenge answer only the surface, and over HTTP only the key, that started it', () => {
    const shop = { via: 'http', client: 'key_aaaa0001' } as const;
    const other = { via: 'http', client: 'key_bbbb0002' } as const;
    const bus = { via: 'bus' } as const;
    expect(reachableBy({ origin: 'bus' }, bus)).toBe(true);
    expect(reachableBy({ origin: 'bus' }, shop)).toBe(false);
    expect(reachableBy({ origin: 'http', client: shop.client }, shop)).toBe(true);
    expect(reachableBy({ origin: 'http', client: shop.client }, other)).toBe(false);
    expect(reachableBy({ origin: 'http', client: shop.client }, bus)).toBe(false);
    // The key once named by its client: what it started unnamed, and what its client started.
    const named = { via: 'http', client: 'client:shop', key: 'key_aaaa0001' } as const;
    expect(reachableBy({ origin: 'http', client: 'key_aaaa0001' }, named)).toBe(true);
    expect(reachableBy({ origin: 'http', client: 'client:shop' }, named)).toBe(true);
    expect(reachableBy({ origin: 'http', client: 'key_bbbb0002' }, named)).toBe(false);
    expect(reachableBy({ origin: 'http' }, { via: 'http', client: 'x' } as const)).toBe(false);
  });

  it('keeps sign-in and step-up codes short on every channel; e-mail lifetimes only for custom flows', () => {
    expect(codeTtlMs(ttl, 'sign_in', 'sms')).toBe(300_000);
    expect(codeTtlMs(ttl, 'sign_in', 'email')).toBe(300_000);
    expect(codeTtlMs(ttl, 'phone_verification', 'voice')).toBe(600_000);
    expect(codeTtlMs(ttl, 'custom', 'email')).toBe(1_800_000);
    expect(codeTtlMs(ttl, 'custom', 'sms')).toBe(600_000);
  });

  it('grows the resend cooldown 30 s, 60 s, 120 s… up to a cap', () => {
    expect([1, 2, 3, 4, 5].map((n) => resendCooldownMs(n, 30_000, 600_000))).toEqual([
      30_000, 60_000, 120_000, 240_000, 480_000,
    ]);
    expect(resendCooldownMs(6, 30_000, 600_000)).toBe(600_000);
  });

  it('names the notifier templates by purpose', () => {
    expect(templateFor('sign_in')).toBe('otp.sign_in');
    expect(templateFor('phone_verification')).toBe('otp.phone_verification');
    expect(templateFor('step_up')).toBe('otp.step_up');
    expect(templateFor('password_reset')).toBe('otp.password_reset');
    expect(templateFor('custom')).toBe('otp.verification');
    expect(isTwoStep('sign_in')).toBe(true);
    expect(isTwoStep('phone_verification')).toBe(false);
    expect(isTwoStep('phone_verification', true)).toBe(true);
  });

  it('offers the next channels in the configured order', () => {
    const order = ['sms', 'voice', 'email'] as const;
    const bus = { origin: 'bus' as const, purpose: 'sign_in' as const };
    const phoneWithAccount = {
      ...bus,
      channel: 'sms' as const,
      accountId: 'a',
      phone: '+14155550123',
      destination: '+14155550123',
    };
    expect(alternativesOf(phoneWithAccount, order)).toEqual(['voice', 'email']);
    expect(nextChannel(phoneWithAccount, order)).toBe('voice');
    expect(nextChannel({ ...phoneWithAccount, channel: 'voice' }, order)).toBe('email');
    expect(
      nextChannel(
        { ...bus, channel: 'voice', phone: '+14155550123', destination: '+14155550123' },
        order,
      ),
    ).toBeUndefined();
    expect(nextChannel({ ...bus, channel: 'email', destination: 'a@b.c' }, order)).toBeUndefined();
  });

  it("offers the account's e-mail to identity's challenges and a storefront's custom flows only", () => {
    const order = ['sms', 'voice', 'email'] as const;
    const shop = {
      origin: 'http' as const,
      channel: 'voice' as const,
      accountId: 'a',
      phone: '+14155550123',
      destination: '+14155550123',
    };
    for (const purpose of ['sign_in', 'step_up', 'phone_verification', 'password_reset'] as const) {
      expect(mayUseAccountEmail({ ...shop, purpose })).toBe(false);
      expect(alternativesOf({ ...shop, purpose }, order)).toEqual(['sms']);
      expect(nextChannel({ ...shop, purpose }, order)).toBeUndefined();
    }
    expect(mayUseAccountEmail({ ...shop, purpose: 'custom' })).toBe(true);
    expect(nextChannel({ ...shop, purpose: 'custom' }, order)).toBe('email');
    expect(mayUseAccountEmail({ ...shop, origin: 'bus', purpose: 'sign_in' })).toBe(true);
    expect(mayUseAccountEmail({ origin: 'bus', purpose: 'sign_in' })).toBe(false);
  });

  it('treats a pending challenge past its expiry as expired (checked in code) and masks the destination', () => {
    const record: ChallengeRecord = {
      id: 'id',
      purpose: 'sign_in',
      status: 'pending',
      channel: 'sms',
      destination: '+14155550123',
      phone: '+14155550123',
      kid: 'k',
      digest: 'ab',
      createdAt: 0,
      expiresAt: 1000,
      attemptsLeft: 5,
      sends: 1,
      lastSentAt: 0,
      resendAt: 500,
      messageId: 'm',
      twoStep: true,
      reported: false,
      origin: 'bus',
    };
    expect(effectiveStatus(record, 999)).toBe('pending');
    expect(effectiveStatus(record, 1000)).toBe('expired');
    const view = toView(record, 10, ['sms', 'voice', 'email']);
    expect(view).toMatchObject({
      status: 'pending',
      to: '+1 ••• ••• ••23',
      attemptsRemaining: 5,
      sends: 1,
      alternatives: ['voice'],
    });
    expect(JSON.stringify(view)).not.toContain('ab"');
    expect(JSON.stringify(view)).not.toContain('4155550123');
  });
});
