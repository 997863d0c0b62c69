import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Clock, DomainError, type Logger, PLATFORM_LOGGER } from '@phonegate/platform';
import type { Redis } from 'ioredis';
import { DataSource, IsNull } from 'typeorm';
import { AccountEntity } from '../accounts/account.entity';
import { lockAccount, phonesOf, primaryPhone } from '../accounts/account.repository';
import { normalizeEmail } from '../accounts/accounts.service';
import type { IdentityConfig } from '../config/identity.config';
import type { EventOutbox } from '../events/event-outbox';
import type { OtpGateway } from '../otp/otp.gateway';
import { unknownAsExpired } from '../otp/otp-errors';
import { acceptsChannel, parseValid } from '../phones/phone-number';
import { PhoneEntity } from '../phones/phone.entity';
import { DeviceEntity } from '../sessions/device.entity';
import { SessionEntity } from '../sessions/session.entity';
import { CodeAccounting } from '../security/code-accounting';
import type { PasswordHasher } from '../security/password-hasher';
import { queueAlert } from '../security/security-alerts';
import { AttemptLimiter, keyPart } from '../security/signin-throttle';
import { JsonStore } from '../shared/json-store';
import {
  EVENT_OUTBOX,
  IDENTITY_CONFIG,
  IDENTITY_REDIS,
  OTP_GATEWAY,
  PASSWORD_HASHER,
} from '../tokens';

/** A reset in Redis (IDENTITY_RESET_TTL). A decoy has no account and never succeeds. */
interface ResetRecord {
  accountId: string | null;
  challengeId: string | null;
  /** A real reset whose code is being sent (the otp reply, with the challenge id, is on its way). */
  sending?: boolean;
  /** Wrong codes on a decoy (the otp service counts a real one's). */
  decoyAttempts: number;
  /** Epoch ms a decoy's imaginary code expires, like a real one's (the otp service's reset TTL). */
  codeExpiresAt: number;
}

/** Mirrors the otp service's per-challenge attempt limit (C7), for decoys. */
const DECOY_ATTEMPTS = 5;

export type ResetRequest = { email: string } | { phone: string; country?: string };

@Injectable()
export class PasswordResetService {
  private readonly resets: JsonStore<ResetRecord>;
  private readonly limiter: AttemptLimiter;

  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    @Inject(IDENTITY_CONFIG) private readonly config: IdentityConfig,
    @Inject(IDENTITY_REDIS) private readonly redis: Redis,
    @Inject(PASSWORD_HASHER) private readonly hasher: PasswordHasher,
    @Inject(OTP_GATEWAY) private readonly otp: OtpGateway,
    @Inject(EVENT_OUTBOX) private readonly outbox: EventOutbox,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
    private readonly codes: CodeAccounting,
  ) {
    this.resets = new JsonStore(redis, 'reset');
    this.limiter = new AttemptLimiter(redis, config.IDENTITY_RESET_WINDOW);
  }

  /**
   * Always 202 {resetId}, with the same work in the request whether or not an
   * account matches (S6): one indexed lookup and one Redis write. The code is
   * sent after the answer, so its round trip to the otp service cannot be
   * timed; for no account a decoy reset is stored and nothing is sent.
   */
  async request(input: ResetRequest, clientIp: string | undefined) {
    const byEmail = 'email' in input;
    const target = byEmail
      ? normalizeEmail(input.email)
      : parseValid(input.phone, input.country).e164;
    await this.limiter.reserve(
      [
        { key: `reset:target:${keyPart(target)}`, max: this.config.IDENTITY_RESET_MAX_PER_TARGET },
        ...(clientIp
          ? [{ key: `reset:ip:${keyPart(clientIp)}`, max: this.config.IDENTITY_RESET_MAX_PER_IP }]
          : []),
      ],
      'Too many password resets; wait and try again.',
    );
    const accountId = byEmail
      ? ((
          await this.db
            .getRepository(AccountEntity)
            .findOne({ where: { emailNormalized: target }, select: { id: true } })
        )?.id ?? null)
      : ((
          await this.db
            .getRepository(PhoneEntity)
            .findOne({ where: { e164: target, status: 'verified' }, select: { accountId: true } })
        )?.accountId ?? null);
    const resetId = randomUUID();
    const ttl = this.config.IDENTITY_RESET_TTL;
    await this.resets.put(
      resetId,
      {
        accountId,
        challengeId: null,
        decoyAttempts: 0,
        codeExpiresAt: this.clock.nowMs() + ttl,
        ...(accountId ? { sending: true } : {}),
      },
      ttl,
    );
    if (accountId) {
      setImmediate(() => {
        this.send(resetId, accountId, clientIp).catch(async (error: unknown) => {
          this.logger.warn(
            { resetId, err: error instanceof Error ? error.message : String(error) },
            'reset code not sent',
          );
          const record = await this.resets.get(resetId).catch(() => undefined);
          if (record)
            await this.resets
              .replace(resetId, { ...record, sending: false })
              .catch(() => undefined);
        });
      });
    }
    return { resetId };
  }

  /** Sends the reset code to the verified primary number (SMS, or voice for a fixed line), else to the e-mail. */
  private async send(
    resetId: string,
    accountId: string,
    clientIp: string | undefined,
  ): Promise<void> {
    const account = await this.db.getRepository(AccountEntity).findOneBy({ id: accountId });
    if (!account) return;
    const phone = primaryPhone(await phonesOf(this.db, accountId));
    const policy = {
      smsLineTypes: this.config.IDENTITY_SMS_LINE_TYPES,
      voiceLineTypes: this.config.IDENTITY_VOICE_LINE_TYPES,
    };
    const channel = phone
      ? acceptsChannel(phone.lineType, 'sms', policy)
        ? 'sms'
        : 'voice'
      : 'email';
    const challenge = await this.otp.start({
      purpose: 'password_reset',
      channel,
      to: phone ? phone.e164 : account.email,
      accountId,
      ...(phone ? { phoneId: phone.id } : {}),
      ref: resetId,
      locale: account.locale,
      ...(clientIp ? { clientIp } : {}),
    });
    const record = await this.resets.get(resetId);
    if (record)
      await this.resets.replace(resetId, { ...record, challengeId: challenge.id, sending: false });
    this.logger.info({ resetId, challengeId: challenge.id, channel }, 'reset code sent');
  }

  /** Sets the new password; every session and remembered device is revoked and the e-mail told. */
  async complete(resetId: string, code: string, newPassword: string) {
    const record = /^[0-9a-f-]{36}$/i.test(resetId) ? await this.settled(resetId) : undefined;
    if (!record)
      throw new DomainError('code_expired', 'This reset has expired; ask for a new one.');
    if (!record.accountId || !record.challengeId) return this.decoyAttempt(resetId, record);
    const account = await this.db.getRepository(AccountEntity).findOneBy({ id: record.accountId });
    if (!account) return this.decoyAttempt(resetId, record);

    // Not counted against the account (CodeAccounting): anyone who knows the e-mail can start a reset.
    await unknownAsExpired(
      this.otp.check({
        challengeId: record.challengeId,
        code,
        purpose: 'password_reset',
        ref: resetId,
      }),
    );
    if (!(await this.resets.take(resetId)))
      throw new DomainError('code_expired', 'This reset has expired; ask for a new one.');
    const passwordHash = await this.hasher.hash(newPassword);
    const now = this.clock.now();
    await this.db.transaction(async (m) => {
      const locked = await lockAccount(m, account.id);
      await m
        .getRepository(AccountEntity)
        .update({ id: account.id }, { passwordHash, sessionsValidAfter: now, updatedAt: now });
      await m
        .getRepository(SessionEntity)
        .update({ accountId: account.id, revokedAt: IsNull() }, { revokedAt: now });
      await m
        .getRepository(DeviceEntity)
        .update({ accountId: account.id }, { rememberedUntil: null });
      await queueAlert(
        this.outbox,
        m,
        { accountId: account.id, email: locked.email, locale: locked.locale },
        'security.password_changed',
        { at: now.toISOString(), via: 'password_reset' },
        resetId,
      );
    });
    // A new password unlocks what wrong attempts had locked.
    await this.codes.clear(account.id);
    await this.redis.del(`signin:acct:${keyPart(account.emailNormalized)}`).catch(() => undefined);
    return { resetId, status: 'completed' as const };
  }

  /** The reset, once its code has left (a person can read a code before the otp reply is stored). */
  private async settled(resetId: string): Promise<ResetRecord | undefined> {
    const deadline = this.clock.nowMs() + this.config.IDENTITY_OTP_TIMEOUT + 500;
    for (;;) {
      const record = await this.resets.get(resetId);
      if (!record?.sending || this.clock.nowMs() > deadline) return record;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** A decoy answers like a real reset with a wrong code, down to the attempt limit. */
  private async decoyAttempt(resetId: string, record: ResetRecord): Promise<never> {
    // The same round trip to the otp service a real check makes, so the answer takes as long.
    await this.otp.get(randomUUID()).catch(() => undefined);
    const attempts = record.decoyAttempts + 1;
    await this.resets.replace(resetId, { ...record, decoyAttempts: attempts });
    if (attempts >= DECOY_ATTEMPTS) {
      throw new DomainError(
        'too_many_attempts',
        'Too many wrong codes; this verification is locked. Start a new one.',
        {
          attemptsRemaining: 0,
          retryAfter: Math.max(1, Math.ceil((record.codeExpiresAt - this.clock.nowMs()) / 1000)),
        },
      );
    }
    throw new DomainError('code_mismatch', 'That code is not right.', {
      attemptsRemaining: DECOY_ATTEMPTS - attempts,
    });
  }
}
