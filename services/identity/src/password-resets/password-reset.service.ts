import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Clock, DomainError, type Logger, PLATFORM_LOGGER } from '@phonegate/platform';
import type { Redis } from 'ioredis';
import { DataSource, IsNull } from 'typeorm';
import { AccountEntity } from '../accounts/account.entity';
import { lockAccount, phonesOf, primaryPhone } from '../accounts/account.repository';
import { normalizeEmail } from '../accounts/accounts.service';
import type { IdentityConfig } from '../config/identity.config';
import type { EventOutbox } from '../events/event-outbox';
import type { OtpGateway } from '../otp/otp.gateway';
import { isDomain, unknownAsExpired } from '../otp/otp-errors';
import { acceptsChannel, parseValid } from '../phones/phone-number';
import { PhoneEntity } from '../phones/phone.entity';
import { stillVerified } from '../sessions/code-destination';
import { DeviceEntity } from '../sessions/device.entity';
import { SessionEntity } from '../sessions/session.entity';
import { CodeAccounting } from '../security/code-accounting';
import type { PasswordHasher } from '../security/password-hasher';
import { queueAlert } from '../security/security-alerts';
import { AttemptLimiter, keyPart } from '../security/signin-throttle';
import {
  EVENT_OUTBOX,
  IDENTITY_CONFIG,
  IDENTITY_REDIS,
  OTP_GATEWAY,
  PASSWORD_HASHER,
} from '../tokens';
import { lockedReset, wrongCodeAnswer } from './reset-answers';
import { afterSendFailure, sendLeaseMs } from './reset-delivery';
import {
  policyDifferences,
  policyOf,
  resetEnd,
  type ResetPolicy,
  samePolicy,
} from './reset-policy';
import { type ResetRecord, ResetStore } from './reset.store';

export type ResetRequest = { email: string } | { phone: string; country?: string };

/** Sends taken by one sweep of one instance at the most. */
const SWEEP_BATCH = 50;
/** After the otp deadline, for the lookups around the first try. */
const SETTLE_MARGIN_MS = 500;

/**
 * The otp service refuses an OTP_RESET_TTL over 10 minutes: a reset whose end follows its
 * policy (`lifeFrom`) is kept at least that long, and answered by its end when asked.
 */
const OTP_RESET_TTL_CEILING_MS = 10 * 60_000;
/** How often each instance asks the otp service for its reset policy again (a setting may change). */
const POLICY_REFRESH_MS = 60_000;
/** Until then after a failed ask (the otp service not up yet, or one without the command). */
const POLICY_RETRY_MS = 5_000;

/** What a send (or a decoy's round trip in its place) gives the reset, and until when it is kept. */
type Sent = Pick<ResetRecord, 'challengeId' | 'phoneId' | 'codeExpiresAt' | 'lifeFrom'> & {
  keepUntil: number;
};

@Injectable()
export class PasswordResetService implements OnModuleInit, OnModuleDestroy {
  private readonly resets: ResetStore;
  private readonly limiter: AttemptLimiter;
  private readonly leaseMs: number;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping = false;
  private stopping = false;
  /** Sends under way, waited for at shutdown (before Redis and the database close). */
  private readonly inFlight = new Set<Promise<void>>();
  /** identity's own settings: the reset policy until the otp service's is known. */
  private readonly configured: ResetPolicy;
  /** The otp service's reset policy as this instance last knew it (S6: decoys answer by it). */
  private known: ResetPolicy;
  private knownFromOtp = false;
  /** The last policy whose difference from identity's settings was logged. */
  private reported: ResetPolicy | undefined;
  /** The otp service has answered otp.code_policy.get: its answers, not estimates, are kept. */
  private answeredByOtp = false;
  private asking = false;
  private nextAskAt = 0;

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
    this.resets = new ResetStore(redis);
    this.limiter = new AttemptLimiter(redis, config.IDENTITY_RESET_WINDOW);
    this.leaseMs = sendLeaseMs(config.IDENTITY_OTP_TIMEOUT);
    this.configured = { ttlMs: config.IDENTITY_RESET_TTL, maxAttempts: config.OTP_MAX_ATTEMPTS };
    this.known = this.configured;
  }

  async onModuleInit(): Promise<void> {
    // What any instance learned before: resets answered from the first request on by it; and
    // the otp service asked (again every minute, with the sweeps).
    await this.storedPolicy();
    this.askOtpWhenDue();
    this.sweeper = setInterval(() => {
      this.askOtpWhenDue();
      this.track(this.sweep());
    }, this.config.IDENTITY_RESET_SWEEP_INTERVAL);
    this.sweeper.unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweeper);
    await Promise.all([...this.inFlight]);
  }

  /**
   * Always 202 {resetId}, with the same work whether or not an account
   * matches (S6): one indexed lookup and one Redis write (the reset with its
   * send) in the request; after the answer, one otp round trip: the real
   * reset's code is sent, a decoy asks the otp service something that sends
   * nothing. Both are tried again the same way while the otp service cannot be
   * reached, or when this process stops first (IDENTITY_RESET_SEND_*).
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
    const now = this.clock.nowMs();
    // Until its code is sent, a reset lives as a code sent now would (the send sets its end).
    const record: ResetRecord = {
      accountId,
      state: 'sending',
      challengeId: null,
      sendAttempts: 0,
      ...(clientIp ? { clientIp } : {}),
      codeExpiresAt: now + this.known.ttlMs,
      lifeFrom: now,
      settlesAt: now + this.config.IDENTITY_OTP_TIMEOUT + SETTLE_MARGIN_MS,
    };
    // Held by this process for the lease; a sweep takes it if the send below never ends.
    await this.resets.accept(resetId, record, this.keepMs(), now + this.leaseMs);
    setImmediate(() => this.track(this.deliver(resetId)));
    return { resetId };
  }

  /** Sends due again (a failed try, or a send left by a stopped process). */
  private async sweep(): Promise<void> {
    if (this.sweeping || this.stopping) return;
    this.sweeping = true;
    try {
      const due = await this.resets.claim(this.clock.nowMs(), this.leaseMs, SWEEP_BATCH);
      await Promise.all(due.map((resetId) => this.deliver(resetId)));
    } catch (error) {
      this.logger.warn({ err: message(error) }, 'reset send sweep failed');
    } finally {
      this.sweeping = false;
    }
  }

  /**
   * One try to send a reset's code (for a decoy, the otp round trip in its
   * place); a failed try is scheduled again or, at the end, the reset marked
   * failed. Never throws.
   */
  private async deliver(resetId: string): Promise<void> {
    try {
      const record = await this.resets.get(resetId);
      // A reset that ended before its code could leave gets none (a decoy as a real one).
      if (record?.state !== 'sending' || resetEnd(record, this.known) <= this.clock.nowMs()) {
        await this.resets.settle(resetId);
        return;
      }
      const attempt = record.sendAttempts + 1;
      let sent: Sent;
      try {
        sent = record.accountId
          ? await this.send(resetId, record.accountId, record.clientIp, attempt)
          : await this.decoySend();
      } catch (error) {
        if (reportedFlow(error)) {
          // The code an earlier try sent (its answer lost) was reported by the owner ("I didn't
          // ask for this"): the otp service refuses another; the reset ends here (410 after).
          this.logger.info({ resetId, attempt }, 'reset ended: its code was reported');
          await this.resets.take(resetId);
          await this.resets.settle(resetId);
          return;
        }
        const next = afterSendFailure(error, attempt, {
          attempts: this.config.IDENTITY_RESET_SEND_ATTEMPTS,
          retryMs: this.config.IDENTITY_RESET_SEND_RETRY,
        });
        if ('retryInMs' in next) {
          this.logger.warn(
            { resetId, attempt, retryInMs: next.retryInMs, err: message(error) },
            'reset code not sent; will try again',
          );
          await this.resets.replace(resetId, { ...record, sendAttempts: attempt });
          await this.resets.reschedule(resetId, this.clock.nowMs() + next.retryInMs);
        } else {
          this.logger.error(
            { resetId, attempt, reason: next.giveUp, err: message(error) },
            'reset code not sent; given up',
          );
          await this.resets.replace(resetId, { ...record, state: 'failed', sendAttempts: attempt });
          await this.resets.settle(resetId);
        }
        return;
      }
      // Sent. Recording it is not part of the send: a store error here must not count as a
      // failed send (that would send a second code and kill the first), so it is tried again
      // briefly; if the store stays away, the lease runs out and a sweep may send once more.
      // The reset now ends with its code (a decoy's as a real one's would).
      const { keepUntil, lifeFrom, ...done } = sent;
      const next: ResetRecord = { ...record, state: 'sent', ...done, sendAttempts: attempt };
      if (lifeFrom === undefined) delete next.lifeFrom;
      else next.lifeFrom = lifeFrom;
      await withRetries(async () => {
        await this.resets.replaceUntil(resetId, next, keepUntil, this.clock.nowMs());
        await this.resets.settle(resetId);
      });
    } catch (error) {
      // Redis unreachable: the send stays queued, held for the lease, and a later sweep tries again.
      this.logger.warn({ resetId, err: message(error) }, 'reset send bookkeeping failed');
    }
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  /**
   * Sends the reset code to the verified primary number (SMS, or voice for a fixed line), else
   * to the e-mail; answers the challenge id, the number's phone id (null for the e-mail), and the
   * code's end at the otp service. A first try's fresh challenge also tells the otp service's
   * reset policy (a later try may get back the challenge an earlier one made).
   */
  private async send(
    resetId: string,
    accountId: string,
    clientIp: string | undefined,
    attempt: number,
  ): Promise<Sent> {
    const account = await this.db.getRepository(AccountEntity).findOneBy({ id: accountId });
    if (!account) throw new DomainError('not_found', 'The account of this reset is gone.');
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
    const sentAt = this.clock.nowMs();
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
    const answeredAt = this.clock.nowMs();
    this.logger.info({ resetId, challengeId: challenge.id, channel }, 'reset code sent');
    // Only while the otp service has not answered its policy itself (an older otp service).
    const learned =
      attempt === 1 && !this.answeredByOtp ? policyOf(challenge, sentAt, answeredAt) : undefined;
    if (learned) await this.learn(learned);
    const expiresAt = Date.parse(challenge.expiresAt);
    if (!Number.isFinite(expiresAt)) {
      // Not to be: the contract's expiresAt is an ISO time. Then it ends like a decoy.
      return { challengeId: challenge.id, phoneId: phone?.id ?? null, ...this.lifeFromNow() };
    }
    return {
      challengeId: challenge.id,
      phoneId: phone?.id ?? null,
      codeExpiresAt: expiresAt,
      keepUntil: expiresAt,
    };
  }

  /**
   * A decoy's send: the otp round trip a real send makes; its life starts then, as a real code's
   * at the otp service, and follows the otp service's policy as known when it is answered.
   */
  private async decoySend(): Promise<Sent> {
    await this.otpRoundTrip();
    return { challengeId: null, phoneId: null, ...this.lifeFromNow() };
  }

  private lifeFromNow(): Pick<Sent, 'codeExpiresAt' | 'lifeFrom' | 'keepUntil'> {
    const now = this.clock.nowMs();
    return {
      codeExpiresAt: now + this.known.ttlMs,
      lifeFrom: now,
      keepUntil: now + this.keepMs(),
    };
  }

  /** How long a reset whose end follows the policy is kept: past any end the policy can give. */
  private keepMs(): number {
    return Math.max(this.configured.ttlMs, this.known.ttlMs, OTP_RESET_TTL_CEILING_MS);
  }

  /** The policy stored by any instance (kept as known), else the one this instance knows. */
  private async storedPolicy(): Promise<ResetPolicy> {
    try {
      const stored = await this.resets.policy();
      if (stored) {
        this.known = stored;
        this.knownFromOtp = true;
        this.report(stored);
      }
    } catch (error) {
      this.logger.warn(
        { err: message(error) },
        'reset policy not read; the last one known is used',
      );
    }
    return this.known;
  }

  /**
   * Asks the otp service for its reset policy when due: at start, then every minute, sooner again
   * after a failed ask. In the background: no request waits for it.
   */
  private askOtpWhenDue(): void {
    if (this.asking || this.stopping || this.clock.nowMs() < this.nextAskAt) return;
    this.asking = true;
    this.track(
      this.askOtp().finally(() => {
        this.asking = false;
      }),
    );
  }

  private async askOtp(): Promise<void> {
    try {
      // A reset's code lives as long on every channel; SMS is the usual one.
      const policy = await this.otp.codePolicy({ purpose: 'password_reset', channel: 'sms' });
      this.answeredByOtp = true;
      this.nextAskAt = this.clock.nowMs() + POLICY_REFRESH_MS;
      await this.learn({ ttlMs: policy.ttlMs, maxAttempts: policy.maxAttempts });
    } catch (error) {
      this.nextAskAt = this.clock.nowMs() + POLICY_RETRY_MS;
      this.logger.debug({ err: message(error) }, 'reset policy not had from the otp service');
    }
  }

  /** The otp service's reset policy, as it said or a fresh challenge of it showed: kept for every instance. */
  private async learn(policy: ResetPolicy): Promise<void> {
    const changed = !this.knownFromOtp || !samePolicy(this.known, policy);
    this.known = policy;
    this.knownFromOtp = true;
    this.report(policy);
    if (!changed) return;
    try {
      await this.resets.savePolicy(policy);
    } catch (error) {
      this.logger.warn({ err: message(error) }, 'reset policy not stored');
    }
  }

  /** Says once per policy where identity's own settings differ from the otp service's. */
  private report(policy: ResetPolicy): void {
    if (this.reported && samePolicy(this.reported, policy)) return;
    this.reported = policy;
    const differences = policyDifferences(this.configured, policy);
    if (differences.length === 0) return;
    this.logger.warn(
      { differences },
      "identity's reset settings differ from the otp service's; resets and decoys follow the otp service's",
    );
  }

  /**
   * A round trip to the otp service that sends and changes nothing (a decoy's
   * send, and its check): an unreachable otp service fails it as it fails a
   * real one's.
   */
  private async otpRoundTrip(): Promise<null> {
    try {
      await this.otp.get(randomUUID());
    } catch (error) {
      if (!isDomain(error, 'not_found')) throw error;
    }
    return null;
  }

  /** Sets the new password; every session and remembered device is revoked and the e-mail told. */
  async complete(resetId: string, code: string, newPassword: string) {
    const record = /^[0-9a-f-]{36}$/i.test(resetId) ? await this.settled(resetId) : undefined;
    // The same read for any reset, known or not: the otp service's policy, by which one without
    // a code at the otp service (a decoy) ends and counts wrong codes.
    const policy = await this.storedPolicy();
    if (!record || resetEnd(record, policy) <= this.clock.nowMs())
      throw new DomainError('code_expired', 'This reset has expired; ask for a new one.');
    if (record.state === 'sending') throw await this.stillSending(resetId);
    // A reset whose code was never sent (given up) can never succeed: it answers like a decoy.
    if (!record.accountId || record.state !== 'sent' || !record.challengeId)
      return this.wrongCode(resetId, record, policy);
    const account = await this.db.getRepository(AccountEntity).findOneBy({ id: record.accountId });
    if (!account) return this.wrongCode(resetId, record, policy);

    // Not counted against the account (CodeAccounting): anyone who knows the e-mail can start a reset.
    try {
      await unknownAsExpired(
        this.otp.check({
          challengeId: record.challengeId,
          code,
          purpose: 'password_reset',
          ref: resetId,
        }),
      );
    } catch (error) {
      throw isDomain(error, 'too_many_attempts')
        ? lockedReset(record.codeExpiresAt, this.clock.nowMs())
        : error;
    }
    if (!(await this.resets.take(resetId)))
      throw new DomainError('code_expired', 'This reset has expired; ask for a new one.');
    const passwordHash = await this.hasher.hash(newPassword);
    const now = this.clock.now();
    await this.db.transaction(async (m) => {
      const locked = await lockAccount(m, account.id);
      // A code sent to a number completes the reset only while the number is the account's
      // (read under the lock a removal takes too); else the reset (taken above) ends, nothing changed.
      if (
        record.phoneId !== null &&
        !stillVerified(await phonesOf(m, account.id), record.phoneId)
      ) {
        throw new DomainError(
          'code_expired',
          'The code was sent to a number that is no longer on this account; ask for a new reset.',
        );
      }
      // Every session is written under this lock too (SessionIssuer): one whose write
      // committed before the lock was taken is seen by the revoke below (each statement reads
      // what was committed before it began); one waiting for the lock then finds the new
      // password and epoch and is not written (its sign-in answers 401).
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

  /**
   * The reset, once the first try to send its code has surely ended: a code
   * checked before then waits until then, a decoy's as long as a real
   * reset's (S6). Later, a reset still `sending` is waited for up to one otp
   * deadline, decoy or not, so that a person who read the code of a try whose
   * otp reply is not stored yet finds the reset sent.
   */
  private async settled(resetId: string): Promise<ResetRecord | undefined> {
    const deadline = this.clock.nowMs() + this.config.IDENTITY_OTP_TIMEOUT + SETTLE_MARGIN_MS;
    let record = await this.resets.get(resetId);
    if (record && record.settlesAt > this.clock.nowMs()) {
      await sleep(record.settlesAt - this.clock.nowMs());
      record = await this.resets.get(resetId);
    }
    while (record?.state === 'sending' && this.clock.nowMs() < deadline) {
      await sleep(25);
      record = await this.resets.get(resetId);
    }
    return record;
  }

  /** 503 while the code has not left yet: it will be tried again, then a code can be typed. */
  private async stillSending(resetId: string): Promise<DomainError> {
    const dueAt = (await this.resets.sendDueAt(resetId)) ?? this.clock.nowMs();
    return new DomainError(
      'service_unavailable',
      'The reset code has not been sent yet; try again shortly.',
      { retryAfter: Math.max(1, Math.ceil((dueAt - this.clock.nowMs()) / 1000)) },
    );
  }

  /**
   * A code on a reset the otp service does not check (a decoy, or one whose
   * code was never sent) is a wrong code, answered like a real challenge's:
   * the same otp round trip, then counted atomically against the otp service's
   * OTP_MAX_ATTEMPTS, and ended by its OTP_RESET_TTL, as known now (`policy`).
   */
  private async wrongCode(
    resetId: string,
    record: ResetRecord,
    policy: ResetPolicy,
  ): Promise<never> {
    await this.otpRoundTrip();
    const now = this.clock.nowMs();
    const end = resetEnd(record, policy);
    const count = await this.resets.countWrongCode(resetId, end - now);
    throw wrongCodeAnswer(count, policy.maxAttempts, end, now);
  }
}

/** The otp service's refusal to start a flow's code again after the owner reported its code. */
function reportedFlow(error: unknown): boolean {
  return isDomain(error, 'code_expired') && error.extra['reason'] === 'reported';
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `work`, trying it again up to `tries` times `delayMs` apart; throws the last error. */
async function withRetries(work: () => Promise<void>, tries = 5, delayMs = 200): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      return await work();
    } catch (error) {
      if (i >= tries) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
