import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  type ChallengeView,
  notificationRequestedV1,
  phoneAddedV1,
  phonePrimaryChangedV1,
  phoneRemovedV1,
  phoneVerifiedV1,
  twoStepChangedV1,
} from '@phonegate/contracts';
import { Clock, DomainError, type Logger, maskPhone, PLATFORM_LOGGER } from '@phonegate/platform';
import { DataSource, type EntityManager, Not } from 'typeorm';
import { AccountEntity } from '../accounts/account.entity';
import { findAccount, isUuid, lockAccount, phonesOf } from '../accounts/account.repository';
import { isUniqueViolation } from '../accounts/accounts.service';
import type { IdentityConfig } from '../config/identity.config';
import type { EventOutbox } from '../events/event-outbox';
import type { OtpGateway } from '../otp/otp.gateway';
import { isDomain, unknownAsExpired, verificationView } from '../otp/otp-errors';
import { queueAlert } from '../security/security-alerts';
import { EVENT_OUTBOX, IDENTITY_CONFIG, OTP_GATEWAY } from '../tokens';
import { afterPhoneRemoved, sameSettings } from '../two-step/two-step.policy';
import { PhoneEntity } from './phone.entity';
import { acceptsChannel, type ParsedPhone, parsePhone, type PhoneChannel, type PhonePolicy } from './phone-number';

export const MAX_PHONES = 2;

export interface NumberInput {
  number: string;
  country?: string;
  channel?: PhoneChannel;
}

@Injectable()
export class PhonesService {
  private readonly policy: PhonePolicy;

  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    @Inject(IDENTITY_CONFIG) config: IdentityConfig,
    @Inject(OTP_GATEWAY) private readonly otp: OtpGateway,
    @Inject(EVENT_OUTBOX) private readonly outbox: EventOutbox,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
  ) {
    this.policy = { smsLineTypes: config.IDENTITY_SMS_LINE_TYPES, voiceLineTypes: config.IDENTITY_VOICE_LINE_TYPES };
  }

  /** Adds a number (pending) and sends its verification code. */
  async add(accountId: string, input: NumberInput, clientIp?: string) {
    const channel = input.channel ?? 'sms';
    const parsed = parsePhone(input.number, input.country, channel, this.policy);
    const account = await findAccount(this.db, accountId);
    const phones = await phonesOf(this.db, accountId);
    const same = phones.find((p) => p.e164 === parsed.e164 && p.replacesPhoneId === null);
    if (same?.status === 'verified') throw new DomainError('phone_in_use', 'This number is already verified on this account.');
    if (same) return this.restart(account, same, channel, clientIp);
    checkLimit(phones);
    await this.checkNotVerifiedElsewhere(this.db.manager, parsed.e164, accountId);

    // The number is recorded before its code goes out: a database that fails (pool exhausted on
    // a sale day) must not leave a customer with a code for a number we never recorded. If the
    // code cannot be sent, the row goes again; if the last step fails, the row has no challenge
    // yet and adding the number again sends a fresh code (restart).
    const phoneId = randomUUID();
    await this.db.transaction(async (m) => {
      await lockAccount(m, accountId);
      checkLimit(await phonesOf(m, accountId));
      await this.checkNotVerifiedElsewhere(m, parsed.e164, accountId);
      await m.getRepository(PhoneEntity).insert(this.pendingRow(phoneId, accountId, parsed, channel, null, null));
    });
    let challenge: ChallengeView;
    try {
      challenge = await this.startVerification(account, phoneId, parsed.e164, channel, clientIp);
    } catch (error) {
      await this.db
        .getRepository(PhoneEntity)
        .delete({ id: phoneId, status: 'pending' })
        .catch((e: unknown) => this.logger.warn({ err: (e as Error).message, phoneId }, 'pending number not removed after a failed send'));
      throw error;
    }
    await this.db.transaction(async (m) => {
      await m.getRepository(PhoneEntity).update({ id: phoneId }, { challengeId: challenge.id });
      await this.outbox.add(m, phoneAddedV1, { accountId, phoneId, e164: parsed.e164, purpose: 'add' });
    });
    return { phoneId, status: 'pending' as const, verification: verificationView(challenge) };
  }

  /** Changes a number: the new one is pending until verified; the old one keeps working until then. */
  async change(accountId: string, phoneId: string, input: NumberInput, clientIp?: string) {
    const account = await findAccount(this.db, accountId);
    const phone = await this.findPhone(this.db.manager, accountId, phoneId);
    const channel = input.channel ?? (phone.channel === 'voice' ? 'voice' : 'sms');
    const parsed = parsePhone(input.number, input.country, channel, this.policy);
    const phones = await phonesOf(this.db, accountId);
    if (phones.some((p) => p.status === 'verified' && p.e164 === parsed.e164)) {
      throw new DomainError('phone_in_use', 'This number is already verified on this account.');
    }
    await this.checkNotVerifiedElsewhere(this.db.manager, parsed.e164, accountId);

    if (phone.status === 'pending') {
      // Not verified yet: the pending number itself is corrected.
      const challenge = await this.startVerification(account, phone.id, parsed.e164, channel, clientIp);
      await this.db.transaction(async (m) => {
        await lockAccount(m, accountId);
        await this.findPhone(m, accountId, phoneId);
        await m.getRepository(PhoneEntity).update(
          { id: phone.id },
          { e164: parsed.e164, country: parsed.country, lineType: parsed.lineType, channel, challengeId: challenge.id },
        );
        await this.outbox.add(m, phoneAddedV1, {
          accountId,
          phoneId: phone.id,
          e164: parsed.e164,
          purpose: phone.replacesPhoneId ? 'change' : 'add',
          ...(phone.replacesPhoneId ? { replacesPhoneId: phone.replacesPhoneId } : {}),
        });
      });
      return {
        phoneId: phone.id,
        status: 'pending' as const,
        replacesPhoneId: phone.replacesPhoneId,
        verification: verificationView(challenge),
      };
    }

    const newId = randomUUID();
    const challenge = await this.startVerification(account, newId, parsed.e164, channel, clientIp);
    await this.db.transaction(async (m) => {
      await lockAccount(m, accountId);
      const current = await this.findPhone(m, accountId, phoneId);
      if (current.status !== 'verified') throw new DomainError('phone_not_verified', 'This number changed meanwhile; reload it.');
      await this.checkNotVerifiedElsewhere(m, parsed.e164, accountId);
      // One pending replacement per number: a newer change supersedes an older one.
      await m.getRepository(PhoneEntity).delete({ accountId, replacesPhoneId: phoneId, status: 'pending' });
      await m.getRepository(PhoneEntity).insert(this.pendingRow(newId, accountId, parsed, channel, challenge.id, phoneId));
      await this.outbox.add(m, phoneAddedV1, { accountId, phoneId: newId, e164: parsed.e164, purpose: 'change', replacesPhoneId: phoneId });
    });
    return { phoneId: newId, status: 'pending' as const, replacesPhoneId: phoneId, verification: verificationView(challenge) };
  }

  /** Confirms a number with its code. Of two accounts racing for the same number, exactly one wins. */
  async verify(accountId: string, phoneId: string, code: string) {
    await findAccount(this.db, accountId);
    const phone = await this.findPhone(this.db.manager, accountId, phoneId);
    if (phone.status === 'verified') return { phoneId, status: 'verified' as const, primary: phone.primary };
    if (!phone.challengeId) throw new DomainError('code_expired', 'This code has expired; ask for a new one.');
    await unknownAsExpired(
      this.otp.check({ challengeId: phone.challengeId, code, purpose: 'phone_verification', ref: phone.id }),
    );
    try {
      return await this.db.transaction((m) => this.markVerified(m, accountId, phoneId));
    } catch (error) {
      if (isUniqueViolation(error)) throw new DomainError('phone_in_use', 'This number was verified on another account.');
      throw error;
    }
  }

  private async markVerified(m: EntityManager, accountId: string, phoneId: string) {
    const account = await lockAccount(m, accountId);
    const repo = m.getRepository(PhoneEntity);
    const phone = await this.findPhone(m, accountId, phoneId);
    if (phone.status === 'verified') return { phoneId, status: 'verified' as const, primary: phone.primary };
    const now = this.clock.now();
    const target = { accountId, email: account.email, locale: account.locale };
    const replaced = phone.replacesPhoneId ? await repo.findOneBy({ id: phone.replacesPhoneId, accountId }) : null;

    if (replaced) {
      await repo.delete({ id: replaced.id });
      await repo.update({ id: phone.id }, { status: 'verified', verifiedAt: now, primary: replaced.primary, replacesPhoneId: null });
      await this.outbox.add(m, phoneRemovedV1, {
        accountId,
        phoneId: replaced.id,
        e164: replaced.e164,
        primary: replaced.primary,
        reason: 'replaced',
      });
      await this.outbox.add(m, phoneVerifiedV1, {
        accountId,
        phoneId,
        e164: phone.e164,
        primary: replaced.primary,
        replacedPhoneId: replaced.id,
      });
      const vars = { oldNumber: maskPhone(replaced.e164), newNumber: maskPhone(phone.e164) };
      await queueAlert(this.outbox, m, target, 'security.phone_changed', vars, phone.id);
      // S8: the old number is told too.
      await this.outbox.add(m, notificationRequestedV1, {
        messageId: randomUUID(),
        priority: 'critical',
        channel: replaced.channel === 'voice' && !acceptsChannel(replaced.lineType, 'sms', this.policy) ? 'voice' : 'sms',
        to: replaced.e164,
        accountId,
        template: 'security.phone_changed',
        locale: account.locale,
        variables: vars,
        dedupeKey: `identity:security.phone_changed:sms:${phone.id}`,
        origin: { service: 'identity', ref: phone.id },
      });
      return { phoneId, status: 'verified' as const, primary: replaced.primary, replacedPhoneId: replaced.id };
    }

    const primary = !(await repo.existsBy({ accountId, primary: true, status: 'verified' }));
    await repo.update({ id: phone.id }, { status: 'verified', verifiedAt: now, primary, replacesPhoneId: null });
    await this.outbox.add(m, phoneVerifiedV1, { accountId, phoneId, e164: phone.e164, primary });
    await queueAlert(this.outbox, m, target, 'security.phone_added', { number: maskPhone(phone.e164) }, phone.id);
    return { phoneId, status: 'verified' as const, primary };
  }

  /** Sends a fresh code, optionally switching SMS and voice. */
  async resend(accountId: string, phoneId: string, channel: PhoneChannel | undefined, clientIp?: string) {
    const account = await findAccount(this.db, accountId);
    const phone = await this.findPhone(this.db.manager, accountId, phoneId);
    if (phone.status === 'verified') throw new DomainError('conflict', 'This number is already verified.');
    return this.restart(account, phone, channel ?? phone.channel, clientIp);
  }

  /** Resends the pending number's code, or starts a new challenge when the old one is gone. */
  private async restart(account: AccountEntity, phone: PhoneEntity, channel: PhoneChannel, clientIp?: string) {
    if (!acceptsChannel(phone.lineType, channel, this.policy)) {
      throw new DomainError('invalid_phone_number', `This number cannot take ${channel === 'sms' ? 'text messages' : 'voice calls'}.`, {
        lineType: phone.lineType,
      });
    }
    let challenge: ChallengeView | undefined;
    if (phone.challengeId) {
      try {
        challenge = await this.otp.resend({ challengeId: phone.challengeId, channel, ...(clientIp ? { clientIp } : {}) });
      } catch (error) {
        if (!isDomain(error, 'not_found', 'code_expired')) throw error;
      }
    }
    challenge ??= await this.startVerification(account, phone.id, phone.e164, channel, clientIp);
    await this.db.getRepository(PhoneEntity).update({ id: phone.id }, { challengeId: challenge.id, channel });
    return {
      phoneId: phone.id,
      status: 'pending' as const,
      ...(phone.replacesPhoneId ? { replacesPhoneId: phone.replacesPhoneId } : {}),
      verification: verificationView(challenge),
    };
  }

  async makePrimary(accountId: string, phoneId: string) {
    return this.db.transaction(async (m) => {
      await lockAccount(m, accountId);
      const repo = m.getRepository(PhoneEntity);
      const phone = await this.findPhone(m, accountId, phoneId);
      if (phone.status !== 'verified') throw new DomainError('phone_not_verified', 'Only a verified number can be primary.');
      if (!phone.primary) {
        await repo.update({ accountId, primary: true }, { primary: false });
        await repo.update({ id: phone.id }, { primary: true });
        await this.outbox.add(m, phonePrimaryChangedV1, { accountId, phoneId, e164: phone.e164, primary: true });
      }
      return { phoneId, status: 'verified' as const, primary: true };
    });
  }

  /**
   * Deregisters a number. A verified primary hands over to the other verified
   * number; with no verified number left, phone two-step is turned off. The
   * account's e-mail is told.
   */
  async remove(accountId: string, phoneId: string): Promise<void> {
    await this.db.transaction(async (m) => {
      const account = await lockAccount(m, accountId);
      const repo = m.getRepository(PhoneEntity);
      const phone = await this.findPhone(m, accountId, phoneId);
      await repo.delete({ accountId, replacesPhoneId: phone.id });
      await repo.delete({ id: phone.id });
      if (phone.status !== 'verified') return;

      const target = { accountId, email: account.email, locale: account.locale };
      await this.outbox.add(m, phoneRemovedV1, { accountId, phoneId, e164: phone.e164, primary: phone.primary, reason: 'deregistered' });
      await queueAlert(this.outbox, m, target, 'security.phone_removed', { number: maskPhone(phone.e164) }, phone.id);

      const left = await repo.find({ where: { accountId, status: 'verified', id: Not(phone.id) }, order: { verifiedAt: 'ASC' } });
      const heir = left[0];
      if (phone.primary && heir) {
        await repo.update({ id: heir.id }, { primary: true });
        await this.outbox.add(m, phonePrimaryChangedV1, { accountId, phoneId: heir.id, e164: heir.e164, primary: true });
      }
      const current = { enabled: account.twoStepEnabled, method: account.twoStepMethod, backupMethod: account.twoStepBackupMethod };
      const next = afterPhoneRemoved(current, left.length);
      if (!sameSettings(current, next)) {
        await m.getRepository(AccountEntity).update(
          { id: accountId },
          { twoStepEnabled: next.enabled, twoStepMethod: next.method, twoStepBackupMethod: next.backupMethod, updatedAt: this.clock.now() },
        );
        await this.outbox.add(m, twoStepChangedV1, { accountId, ...next, reason: 'phone_removed' });
        if (!next.enabled) {
          await queueAlert(this.outbox, m, target, 'security.two_step_disabled', { reason: 'phone_removed', number: maskPhone(phone.e164) }, `${phone.id}:2sv`);
        }
      }
    });
  }

  private async startVerification(account: AccountEntity, phoneId: string, e164: string, channel: PhoneChannel, clientIp?: string) {
    return this.otp.start({
      purpose: 'phone_verification',
      channel,
      to: e164,
      accountId: account.id,
      phoneId,
      ref: phoneId,
      locale: account.locale,
      twoStep: true,
      ...(clientIp ? { clientIp } : {}),
    });
  }

  private pendingRow(id: string, accountId: string, parsed: ParsedPhone, channel: PhoneChannel, challengeId: string | null, replacesPhoneId: string | null) {
    return Object.assign(new PhoneEntity(), {
      id,
      accountId,
      e164: parsed.e164,
      country: parsed.country,
      lineType: parsed.lineType,
      status: 'pending',
      primary: false,
      channel,
      challengeId,
      replacesPhoneId,
      createdAt: this.clock.now(),
      verifiedAt: null,
    } satisfies PhoneEntity);
  }

  private async findPhone(m: EntityManager, accountId: string, phoneId: string): Promise<PhoneEntity> {
    const phone = isUuid(phoneId) ? await m.getRepository(PhoneEntity).findOneBy({ id: phoneId, accountId }) : null;
    if (!phone) throw new DomainError('not_found', 'No such number on this account.');
    return phone;
  }

  private async checkNotVerifiedElsewhere(m: EntityManager, e164: string, accountId: string): Promise<void> {
    const taken = await m.getRepository(PhoneEntity).existsBy({ e164, status: 'verified', accountId: Not(accountId) });
    if (taken) throw new DomainError('phone_in_use', 'This number is verified on another account.');
  }
}

/** At most two numbers an account; a pending replacement (a change) does not count. */
function checkLimit(phones: readonly PhoneEntity[]): void {
  if (phones.filter((p) => p.replacesPhoneId === null).length >= MAX_PHONES) {
    throw new DomainError('phone_limit_reached', `An account has at most ${MAX_PHONES} numbers.`);
  }
}

