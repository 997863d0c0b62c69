import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { type ChallengeView, twoStepChangedV1 } from '@phonegate/contracts';
import { Clock, DomainError } from '@phonegate/platform';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { AccountEntity, type TwoStepMethod } from '../accounts/account.entity';
import { findAccount, lockAccount, phonesOf, primaryPhone } from '../accounts/account.repository';
import { twoStepView } from '../accounts/account.views';
import type { IdentityConfig } from '../config/identity.config';
import type { EventOutbox } from '../events/event-outbox';
import type { OtpGateway } from '../otp/otp.gateway';
import { unknownAsExpired } from '../otp/otp-errors';
import type { PhoneEntity } from '../phones/phone.entity';
import { acceptsChannel } from '../phones/phone-number';
import { CodeAccounting } from '../security/code-accounting';
import { queueAlert } from '../security/security-alerts';
import { JsonStore } from '../shared/json-store';
import { EVENT_OUTBOX, IDENTITY_CONFIG, IDENTITY_REDIS, OTP_GATEWAY } from '../tokens';
import { type OtpSpend, spendAtOtp } from './step-up.spend';
import type { StepUpRecord } from './step-up.store';
import {
  changeAlert,
  firstFactor,
  isPhoneMethod,
  needsStepUp,
  normalize,
  sameSettings,
  settingsProblems,
  type SigninFactor,
  signinFactors,
  type TwoStepSettings,
} from './two-step.policy';

/** A step-up given with a request that needs one: its id, and its code unless it was approved before. */
export interface StepUpProof {
  stepUpId?: string;
  code?: string;
  factor?: 'totp' | 'backup_code';
}

export interface TwoStepUpdate extends StepUpProof {
  enabled: boolean;
  method?: TwoStepMethod | null;
  backupMethod?: TwoStepMethod | null;
}

@Injectable()
export class TwoStepService {
  private readonly stepUps: JsonStore<StepUpRecord>;

  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    @Inject(IDENTITY_CONFIG) private readonly config: IdentityConfig,
    @Inject(IDENTITY_REDIS) redis: Redis,
    @Inject(OTP_GATEWAY) private readonly otp: OtpGateway,
    @Inject(EVENT_OUTBOX) private readonly outbox: EventOutbox,
    private readonly codes: CodeAccounting,
  ) {
    this.stepUps = new JsonStore(redis, 'stepup');
  }

  async get(accountId: string) {
    return twoStepView(await findAccount(this.db, accountId));
  }

  /**
   * Starts a step-up: a code through the account's own two-step factor (or,
   * with two-step off, its primary number), bound to this step-up (C6).
   * TOTP and backup codes need nothing sent: the person types one.
   */
  async startStepUp(accountId: string, wanted: SigninFactor | undefined) {
    const account = await findAccount(this.db, accountId);
    const { factors, phone } = await this.factorsOf(account);
    const factor = wanted ?? firstFactor(settingsOf(account), factors);
    if (!factor || !factors.includes(factor)) {
      throw new DomainError('factor_not_ready', wanted ? `Step-up by ${wanted} is not available for this account.` : 'This account has no factor for a step-up yet.', {
        available: factors,
      });
    }
    const stepUpId = randomUUID();
    let challenge: ChallengeView | null = null;
    if (factor === 'sms' || factor === 'voice' || factor === 'email') {
      challenge = await this.otp.start({
        purpose: 'step_up',
        channel: factor,
        to: factor === 'email' ? account.email : phone!.e164,
        accountId,
        ...(factor !== 'email' ? { phoneId: phone!.id } : {}),
        ref: stepUpId,
        locale: account.locale,
        twoStep: true,
      });
    }
    const ttl = this.config.IDENTITY_STEP_UP_TTL;
    await this.stepUps.put(stepUpId, { accountId, factor, challengeId: challenge?.id ?? null, approvedAt: null }, ttl);
    return {
      stepUpId,
      factor,
      alternatives: factors,
      expiresAt: new Date(this.clock.nowMs() + ttl).toISOString(),
      challenge: challenge
        ? { id: challenge.id, channel: challenge.channel, to: challenge.to, expiresAt: challenge.expiresAt, resendAvailableAt: challenge.resendAvailableAt }
        : null,
    };
  }

  /** Checks a step-up's code; an approved step-up is good for IDENTITY_STEP_UP_WINDOW. */
  async verifyStepUp(accountId: string, stepUpId: string, code: string, kind?: 'totp' | 'backup_code') {
    const account = await findAccount(this.db, accountId);
    const record = await this.stepUps.get(stepUpId);
    if (!record || record.accountId !== accountId) throw new DomainError('code_expired', 'This step-up has expired; start a new one.');
    if (record.approvedAt === null) {
      await this.codes.assertNotLocked(accountId);
      const factor = kind ?? record.factor;
      await this.codes.check(account, 'step_up', async () => {
        if (factor === 'totp' || factor === 'backup_code') {
          await this.otp.verifyFactor({ accountId, kind: factor, code, purpose: 'step_up' });
        } else {
          if (!record.challengeId) throw new DomainError('code_expired', 'This step-up has expired; start a new one.');
          await unknownAsExpired(this.otp.check({ challengeId: record.challengeId, code, purpose: 'step_up', ref: stepUpId }));
        }
        // The challenge lets the locking wrong code count once (later submissions to a locked challenge do not).
      }, factor === 'totp' || factor === 'backup_code' ? undefined : (record.challengeId ?? undefined));
      record.approvedAt = this.clock.nowMs();
      // Approved by another factor than its code: the otp challenge was never approved and
      // authorises nothing at otp, so the step-up is spent here only (withStepUp).
      if (factor === 'totp' || factor === 'backup_code') record.challengeId = null;
      if (!(await this.stepUps.replace(stepUpId, record))) throw new DomainError('code_expired', 'This step-up has expired; start a new one.');
    }
    return {
      stepUpId,
      status: 'approved' as const,
      validUntil: new Date(record.approvedAt + this.config.IDENTITY_STEP_UP_WINDOW).toISOString(),
    };
  }

  /**
   * Changes two-step. On needs the factor ready (a verified number for SMS or
   * voice, checked again under the account's lock, which removing a number takes
   * too: the number cannot go between the check and the change; a confirmed
   * authenticator for TOTP); off, or another method or backup while on, needs a
   * step-up approved in the last IDENTITY_STEP_UP_WINDOW (given as stepUpId,
   * with its code or approved before).
   */
  async update(accountId: string, input: TwoStepUpdate) {
    const account = await findAccount(this.db, accountId);
    const current = settingsOf(account);
    const next = normalize({ enabled: input.enabled, method: input.method ?? null, backupMethod: input.backupMethod ?? null });
    const problems = settingsProblems(next, this.config.IDENTITY_EMAIL_BACKUP_FACTOR);
    if (problems.length > 0) throw new DomainError('validation_failed', 'These two-step settings are not allowed.', { errors: problems });
    if (sameSettings(current, next)) return twoStepView(account);
    if (next.enabled) await this.assertReady(account, next);
    const apply = () =>
      this.db.transaction(async (m) => {
        const locked = await lockAccount(m, accountId);
        if (!sameSettings(settingsOf(locked), current)) {
          throw new DomainError('conflict', 'Two-step settings changed meanwhile; read them again.');
        }
        // Again under the lock that removing a number takes too: the number may have gone since it was read.
        if (next.enabled && usesPhone(next)) this.assertPhoneReady(next, await phonesOf(m, accountId));
        const now = this.clock.now();
        await m.getRepository(AccountEntity).update(
          { id: accountId },
          { twoStepEnabled: next.enabled, twoStepMethod: next.method, twoStepBackupMethod: next.backupMethod, updatedAt: now },
        );
        await this.outbox.add(m, twoStepChangedV1, { accountId, ...next, reason: 'user' });
        // S8: turned off, or another method or backup while on, the e-mail is told.
        const alert = changeAlert(current, next);
        if (alert) {
          await queueAlert(this.outbox, m, { accountId, email: locked.email, locale: locked.locale }, alert.template, alert.variables, `${accountId}:${now.getTime()}`);
        }
        return Object.assign(locked, { twoStepEnabled: next.enabled, twoStepMethod: next.method, twoStepBackupMethod: next.backupMethod });
      });
    // Off, or another method or backup while on: a step-up, taken before the change and spent by it.
    const updated = needsStepUp(current, next) ? await this.withStepUp(accountId, input, apply) : await apply();
    return twoStepView(updated);
  }

  /**
   * Runs `change` holding a step-up of the account (S8): the step-up named by `proof` (its
   * code, if given, checked first), approved in the last IDENTITY_STEP_UP_WINDOW, is taken in
   * one step before the change, so of concurrent changes given the same step-up exactly one
   * gets it (the others: 403 step_up_required). A step-up by a code sent (SMS, voice, e-mail)
   * is then also spent at otp, where its challenge id could replace a factor: one approved code,
   * one change, here or there (refused when otp has spent it; 503 when otp does not answer,
   * and then kept here for a retry). A change that then fails (it committed nothing: every
   * caller commits last) gives the step-up back, at otp too, for a retry.
   */
  async withStepUp<T>(accountId: string, proof: StepUpProof, change: () => Promise<T>): Promise<T> {
    const taken = await this.takeStepUp(accountId, proof);
    const putBack = () => this.stepUps.putBack(taken.id, taken.record, taken.ttlMs - (Date.now() - taken.at)).catch(() => undefined);
    let atOtp: OtpSpend | undefined;
    if (taken.record.challengeId) {
      const spent = await spendAtOtp(this.otp, accountId, taken.record.challengeId).catch(async (error: unknown) => {
        await putBack();
        throw error;
      });
      // Spent at otp already (or past its window there): gone here too.
      if (spent === 'refused') throw stepUpRequired();
      atOtp = spent;
    }
    try {
      return await change();
    } catch (error) {
      await Promise.all([atOtp?.giveBack().catch(() => undefined), putBack()]);
      throw error;
    }
  }

  /**
   * Takes (reads and deletes in one step) a step-up of this account approved in the last
   * IDENTITY_STEP_UP_WINDOW, or one its code approves now; 403 step_up_required otherwise.
   */
  private async takeStepUp(accountId: string, input: StepUpProof): Promise<{ id: string; record: StepUpRecord; ttlMs: number; at: number }> {
    if (!input.stepUpId) throw stepUpRequired();
    if (input.code) {
      await this.verifyStepUp(accountId, input.stepUpId, input.code, input.factor);
    }
    const taken = await this.stepUps.takeIf(input.stepUpId, 'accountId', accountId, 'approvedAt');
    // An approval past its window is of no use any more: it is gone with the refusal.
    if (!taken || taken.value.approvedAt === null || this.clock.nowMs() - taken.value.approvedAt > this.config.IDENTITY_STEP_UP_WINDOW) {
      throw stepUpRequired();
    }
    return { id: input.stepUpId, record: taken.value, ttlMs: taken.ttlMs, at: Date.now() };
  }

  /**
   * Whether the factors of settings turned on are ready: a verified primary number that takes
   * the channel for SMS or voice (checked again under the account's lock, see `update`), a
   * confirmed authenticator for TOTP.
   */
  private async assertReady(account: AccountEntity, next: TwoStepSettings): Promise<void> {
    if (usesPhone(next)) this.assertPhoneReady(next, await phonesOf(this.db, account.id));
    if (next.method === 'totp' || next.backupMethod === 'totp') {
      const factors = await this.otp.factors(account.id);
      if (!factors.totp) throw new DomainError('factor_not_ready', 'Two-step by authenticator app needs a confirmed authenticator.');
    }
  }

  /** The phone methods of `next` need a verified primary number (among `phones`) that takes their channel. */
  private assertPhoneReady(next: TwoStepSettings, phones: readonly PhoneEntity[]): void {
    const phone = primaryPhone(phones);
    for (const method of [next.method, next.backupMethod]) {
      if (!isPhoneMethod(method)) continue;
      if (!phone) throw new DomainError('factor_not_ready', 'Two-step by phone needs a verified number.');
      if (!acceptsChannel(phone.lineType, method, this.policy())) {
        throw new DomainError('factor_not_ready', `The primary number cannot take ${method === 'sms' ? 'text messages' : 'voice calls'}.`);
      }
    }
  }

  private policy() {
    return { smsLineTypes: this.config.IDENTITY_SMS_LINE_TYPES, voiceLineTypes: this.config.IDENTITY_VOICE_LINE_TYPES };
  }

  /** The factors a step-up may use now. */
  private async factorsOf(account: AccountEntity) {
    const phone = primaryPhone(await phonesOf(this.db, account.id));
    const otpFactors = await this.otp.factors(account.id);
    const facts = {
      hasVerifiedPhone: Boolean(phone),
      phoneTakesSms: phone ? acceptsChannel(phone.lineType, 'sms', this.policy()) : false,
      totp: otpFactors.totp,
      backupCodes: otpFactors.backupCodes,
      emailBackupAllowed: this.config.IDENTITY_EMAIL_BACKUP_FACTOR,
    };
    // With two-step off, whatever the account has ready may confirm it.
    const settings: TwoStepSettings = account.twoStepEnabled
      ? settingsOf(account)
      : { enabled: true, method: phone ? 'sms' : otpFactors.totp ? 'totp' : null, backupMethod: phone && otpFactors.totp ? 'totp' : null };
    return { factors: signinFactors(settings, facts), phone };
  }
}

/** 403: the change needs a fresh step-up (S8). */
export function stepUpRequired(): DomainError {
  return new DomainError('step_up_required', 'Confirm with a fresh code first: POST /v1/accounts/{accountId}/two-step/step-up, then send stepUpId (and code).');
}

/** Whether the settings send codes to the account's number (its method or its backup by SMS or voice). */
function usesPhone(s: TwoStepSettings): boolean {
  return isPhoneMethod(s.method) || isPhoneMethod(s.backupMethod);
}

export function settingsOf(a: AccountEntity): TwoStepSettings {
  return { enabled: a.twoStepEnabled, method: a.twoStepMethod, backupMethod: a.twoStepBackupMethod };
}
