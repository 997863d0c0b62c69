import { afterPhoneRemoved, changeAlert, firstFactor, needsStepUp, OFF, removalNeedsStepUp, settingsProblems, signinFactors } from './two-step.policy';

const on = (method: 'sms' | 'voice' | 'email' | 'totp', backupMethod: 'sms' | 'voice' | 'email' | 'totp' | null = null) => ({
  enabled: true,
  method,
  backupMethod,
});
const facts = { hasVerifiedPhone: true, phoneTakesSms: true, totp: true, backupCodes: 0, emailBackupAllowed: true };

describe('needsStepUp', () => {
  it('is needed to turn two-step off or change its method or backup while on', () => {
    expect(needsStepUp(on('sms'), OFF)).toBe(true);
    expect(needsStepUp(on('sms'), on('totp'))).toBe(true);
    expect(needsStepUp(on('sms'), on('sms', 'email'))).toBe(true);
  });
  it('is not needed to turn it on, or for an unchanged request', () => {
    expect(needsStepUp(OFF, on('sms'))).toBe(false);
    expect(needsStepUp(on('sms'), on('sms'))).toBe(false);
    expect(needsStepUp(OFF, { enabled: false, method: 'sms', backupMethod: null })).toBe(false);
  });
});

describe('afterPhoneRemoved', () => {
  it('keeps phone two-step when another verified number is left', () => {
    expect(afterPhoneRemoved(on('sms'), 1)).toEqual(on('sms'));
  });
  it('turns phone two-step off when no verified number is left', () => {
    expect(afterPhoneRemoved(on('voice', 'totp'), 0)).toEqual(OFF);
  });
  it('drops only a phone backup when the method is not a phone', () => {
    expect(afterPhoneRemoved(on('totp', 'sms'), 0)).toEqual(on('totp'));
    expect(afterPhoneRemoved(on('totp', 'email'), 0)).toEqual(on('totp', 'email'));
  });
});

describe('signinFactors', () => {
  it('offers SMS and voice for a phone method, plus the backup and backup codes', () => {
    expect(signinFactors(on('sms', 'totp'), { ...facts, backupCodes: 3 })).toEqual(['sms', 'voice', 'totp', 'backup_code']);
  });
  it('offers only voice for a number that cannot take SMS', () => {
    expect(signinFactors(on('sms'), { ...facts, phoneTakesSms: false })).toEqual(['voice']);
  });
  it('offers e-mail only as a configured backup (S7)', () => {
    expect(signinFactors(on('sms', 'email'), facts)).toEqual(['sms', 'voice', 'email']);
    expect(signinFactors(on('sms', 'email'), { ...facts, emailBackupAllowed: false })).toEqual(['sms', 'voice']);
  });
  it('starts with the method, or the first usable alternative', () => {
    expect(firstFactor(on('sms'), ['sms', 'voice'])).toBe('sms');
    expect(firstFactor(on('sms'), ['voice'])).toBe('voice');
    expect(firstFactor(on('totp', 'sms'), ['sms', 'voice'])).toBe('sms');
    expect(firstFactor(on('totp'), ['backup_code'])).toBe('backup_code');
    expect(firstFactor(on('totp'), [])).toBeUndefined();
  });
});

describe('settingsProblems', () => {
  it('refuses e-mail as the method, and as a backup when not configured (S7)', () => {
    expect(settingsProblems(on('email'), true).map((p) => p.field)).toEqual(['method']);
    expect(settingsProblems(on('sms', 'email'), true)).toEqual([]);
    expect(settingsProblems(on('sms', 'email'), false).map((p) => p.code)).toEqual(['not_allowed']);
  });
  it('needs a method to turn on, and a backup of another factor', () => {
    expect(settingsProblems({ enabled: true, method: null, backupMethod: null }, true).map((p) => p.code)).toEqual(['required']);
    expect(settingsProblems(on('sms', 'voice'), true).map((p) => p.code)).toEqual(['same_factor']);
    expect(settingsProblems(OFF, false)).toEqual([]);
  });
});

describe('changeAlert', () => {
  it('tells the e-mail when two-step is turned off, or its method or backup changes while on (S8)', () => {
    expect(changeAlert(on('sms'), OFF)).toEqual({ template: 'security.two_step_disabled', variables: { reason: 'user' } });
    expect(changeAlert(on('sms'), on('totp', 'sms'))).toEqual({
      template: 'security.two_step_changed',
      variables: { method: 'totp', backupMethod: 'sms' },
    });
    expect(changeAlert(on('totp', 'sms'), on('totp'))?.variables).toEqual({ method: 'totp', backupMethod: 'none' });
  });
  it('sends nothing for turning it on or an unchanged request', () => {
    expect(changeAlert(OFF, on('sms'))).toBeUndefined();
    expect(changeAlert(on('sms', 'email'), on('sms', 'email'))).toBeUndefined();
  });
});

describe('removalNeedsStepUp', () => {
  const verifiedPrimary = { verified: true, primary: true };
  const otherVerified = { verified: true, primary: false };
  it('is needed to remove the verified primary, whatever two-step is and whether another number takes over or none is left (S8)', () => {
    expect(removalNeedsStepUp(on('sms'), verifiedPrimary, 1)).toBe(true);
    expect(removalNeedsStepUp(on('voice', 'email'), verifiedPrimary, 1)).toBe(true);
    expect(removalNeedsStepUp(on('totp', 'sms'), verifiedPrimary, 1)).toBe(true);
    expect(removalNeedsStepUp(on('totp'), verifiedPrimary, 1)).toBe(true);
    expect(removalNeedsStepUp(OFF, verifiedPrimary, 1)).toBe(true);
    expect(removalNeedsStepUp(OFF, verifiedPrimary, 0)).toBe(true);
  });
  it('is needed for any removal that changes two-step: the last number carrying it (turned off), or a phone backup dropped', () => {
    expect(removalNeedsStepUp(on('sms'), verifiedPrimary, 0)).toBe(true);
    expect(removalNeedsStepUp(on('voice', 'totp'), otherVerified, 0)).toBe(true);
    expect(removalNeedsStepUp(on('totp', 'sms'), otherVerified, 0)).toBe(true);
  });
  it('is not needed for a pending number, or another verified number whose removal changes no setting', () => {
    expect(removalNeedsStepUp(on('sms'), { verified: false, primary: false }, 1)).toBe(false);
    expect(removalNeedsStepUp(on('sms'), { verified: false, primary: false }, 0)).toBe(false);
    expect(removalNeedsStepUp(on('sms'), otherVerified, 1)).toBe(false);
    expect(removalNeedsStepUp(on('totp', 'sms'), otherVerified, 1)).toBe(false);
    expect(removalNeedsStepUp(OFF, otherVerified, 1)).toBe(false);
    expect(removalNeedsStepUp(OFF, otherVerified, 0)).toBe(false);
    expect(removalNeedsStepUp(on('totp', 'email'), otherVerified, 0)).toBe(false);
  });
});
