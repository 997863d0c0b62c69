import type { TwoStepMethod } from '../accounts/account.entity';
import type { SecurityTemplate } from '../security/security-alerts';

export interface TwoStepSettings {
  enabled: boolean;
  method: TwoStepMethod | null;
  backupMethod: TwoStepMethod | null;
}

export const OFF: TwoStepSettings = { enabled: false, method: null, backupMethod: null };

export function isPhoneMethod(method: TwoStepMethod | null | undefined): method is 'sms' | 'voice' {
  return method === 'sms' || method === 'voice';
}

/** Normalises a requested change: off means no method and no backup. */
export function normalize(next: TwoStepSettings): TwoStepSettings {
  return next.enabled ? next : OFF;
}

export function sameSettings(a: TwoStepSettings, b: TwoStepSettings): boolean {
  return a.enabled === b.enabled && a.method === b.method && (a.backupMethod ?? null) === (b.backupMethod ?? null);
}

/**
 * Turning two-step off or changing its method or backup while it is on needs
 * a fresh step-up (S8); turning it on from off needs the factor to be ready
 * instead, and an unchanged request needs nothing.
 */
export function needsStepUp(current: TwoStepSettings, next: TwoStepSettings): boolean {
  if (!current.enabled) return false;
  return !sameSettings(normalize(current), normalize(next));
}

/**
 * After a verified number is deregistered: if another verified number is
 * left it takes over (two-step always uses the primary number), otherwise
 * phone-based two-step is turned off (a phone backup is simply dropped).
 */
export function afterPhoneRemoved(current: TwoStepSettings, verifiedLeft: number): TwoStepSettings {
  if (!current.enabled || verifiedLeft > 0) return current;
  if (isPhoneMethod(current.method)) return OFF;
  if (isPhoneMethod(current.backupMethod)) return { ...current, backupMethod: null };
  return current;
}

/**
 * Whether deregistering a number needs a fresh step-up (S8): it is the verified primary (step-ups',
 * password resets' and phone two-step's codes go there; whether another number takes over or
 * none is left, and whatever two-step is), or its removal changes the two-step settings
 * (`afterPhoneRemoved`: phone two-step off, a phone backup dropped), as PUT two-step would.
 * A pending number, and another verified number whose removal changes no setting, go without.
 */
export function removalNeedsStepUp(current: TwoStepSettings, phone: { verified: boolean; primary: boolean }, verifiedLeft: number): boolean {
  if (!phone.verified) return false;
  return phone.primary || !sameSettings(current, afterPhoneRemoved(current, verifiedLeft));
}

/**
 * The e-mail a two-step change sends (S8): `security.two_step_disabled` when it is turned off,
 * `security.two_step_changed` for another method or backup while on, with the new method and
 * backup (`none` for none) in its variables; turning it on sends none.
 */
export function changeAlert(current: TwoStepSettings, next: TwoStepSettings): { template: SecurityTemplate; variables: Record<string, string> } | undefined {
  if (!current.enabled || sameSettings(current, next)) return undefined;
  if (!next.enabled) return { template: 'security.two_step_disabled', variables: { reason: 'user' } };
  return { template: 'security.two_step_changed', variables: { method: next.method ?? 'none', backupMethod: next.backupMethod ?? 'none' } };
}

/** A sign-in factor a person can be offered: phone channels, e-mail, or a non-phone factor. */
export type SigninFactor = 'sms' | 'voice' | 'email' | 'totp' | 'backup_code';

export interface FactorFacts {
  hasVerifiedPhone: boolean;
  /** The primary number can take SMS (a fixed line added for voice cannot). */
  phoneTakesSms: boolean;
  totp: boolean;
  backupCodes: number;
  /** IDENTITY_EMAIL_BACKUP_FACTOR: e-mail is allowed as a (weaker) backup channel (S7). */
  emailBackupAllowed: boolean;
}

/**
 * The factors a challenged sign-in may use: the method, its phone sibling
 * (SMS and voice reach the same number), the backup method, and backup
 * codes when the account has any. E-mail only as a configured backup.
 */
export function signinFactors(settings: TwoStepSettings, facts: FactorFacts): SigninFactor[] {
  const out = new Set<SigninFactor>();
  const addMethod = (m: TwoStepMethod | null) => {
    if (isPhoneMethod(m) && facts.hasVerifiedPhone) {
      if (facts.phoneTakesSms) out.add('sms');
      out.add('voice');
    } else if (m === 'totp' && facts.totp) out.add('totp');
    else if (m === 'email' && facts.emailBackupAllowed) out.add('email');
  };
  addMethod(settings.method);
  if (settings.backupMethod !== 'email' || facts.emailBackupAllowed) addMethod(settings.backupMethod);
  if (facts.backupCodes > 0) out.add('backup_code');
  return [...out];
}

/** The factor a challenged sign-in starts with: the method if usable, else the first alternative. */
export function firstFactor(settings: TwoStepSettings, factors: readonly SigninFactor[]): SigninFactor | undefined {
  const m = settings.method;
  if (m && factors.includes(m)) return m;
  if (isPhoneMethod(m) && factors.includes('voice')) return 'voice';
  return factors.find((f) => f !== 'backup_code') ?? factors[0];
}

export interface FieldProblem {
  field: string;
  code: string;
  message: string;
}

/**
 * What is wrong with requested settings. E-mail is never the method, only a
 * configured backup (S7: NIST 800-63B-4 does not accept e-mail for
 * out-of-band authentication); the backup is another factor than the method.
 */
export function settingsProblems(next: TwoStepSettings, emailBackupAllowed: boolean): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (!next.enabled) return problems;
  if (!next.method) problems.push({ field: 'method', code: 'required', message: 'Turning two-step on needs a method.' });
  if (next.method === 'email') {
    problems.push({ field: 'method', code: 'not_allowed', message: 'E-mail can only be a backup method (it is a weaker factor).' });
  }
  if (next.backupMethod === 'email' && !emailBackupAllowed) {
    problems.push({ field: 'backupMethod', code: 'not_allowed', message: 'E-mail as a backup factor is turned off on this service.' });
  }
  if (next.backupMethod && (next.backupMethod === next.method || (isPhoneMethod(next.backupMethod) && isPhoneMethod(next.method)))) {
    problems.push({ field: 'backupMethod', code: 'same_factor', message: 'The backup must be another factor than the method.' });
  }
  return problems;
}
