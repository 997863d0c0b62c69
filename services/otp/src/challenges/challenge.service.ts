import { randomUUID } from 'node:crypto';
import {
  type Channel,
  type ChallengePurpose,
  challengeApprovedV1,
  challengeCreatedV1,
  challengeExpiredV1,
  challengeFailedAttemptV1,
  challengeLockedV1,
  type EventContract,
} from '@phonegate/contracts';
import { type Clock, DomainError, type Logger } from '@phonegate/platform';
import { codeNeverLeft, type Messenger, type SecurityAlert } from '../alerts/messenger';
import { type AccountSignals, unrequestedKeys } from '../alerts/account-signals.store';
import { generateNumericCode, normalizeNumericCode } from '../codes/code-generator';
import { digestsEqual, type KeyedHasher } from '../codes/keyed-hash';
import { reportToken, verifyReportToken } from '../codes/report-token';
import type { OtpConfig } from '../config/otp.config';
import type { RedisPumping } from '../limits/pumping.store';
import type { SendGuard } from '../limits/send-guard';
import type { OtpMetrics } from '../otp.metrics';
import type { EventPublisher } from '../ports/event-publisher';
import {
  type Caller,
  type ChallengeRecord,
  type ChallengeViewOut,
  codeTtlMs,
  type DeliveryOutcome,
  effectiveStatus,
  isTwoStep,
  mayUseAccountEmail,
  nextChannel,
  reachableBy,
  toView,
} from './challenge.model';
import type { ChallengeStore } from './challenge.store';

export interface StartInput {
  purpose: ChallengePurpose;
  channel: Channel;
  to: string;
  country?: string;
  accountId?: string;
  phoneId?: string;
  ref?: string;
  locale?: string;
  clientIp?: string;
  twoStep?: boolean;
}

export interface CheckInput {
  id: string;
  code: string;
  /** Over the bus the purpose is always given and the reference must match (C6). */
  purpose?: ChallengePurpose;
  ref?: { value: string | undefined };
}

export interface ResendInput {
  id: string;
  channel?: Channel;
  to?: string;
  country?: string;
  clientIp?: string;
}

interface ResendOptions {
  /** Automatic fallback after a failed send: no cooldown, and only if that send is still current. */
  fallbackFor?: string;
}

const STALE_RETRIES = 3;

/** 422 `validation_failed` naming one field of the request. */
function invalidField(field: string, code: string, message: string): DomainError {
  return new DomainError('validation_failed', 'The request has invalid fields.', {
    errors: [{ field, code, message }],
  });
}

/**
 * A start that a retry may repeat: identity's password-reset sends are retried when its call
 * timed out (the code may have gone out all the same). Its reference (the reset's id) names the
 * challenge to answer again. Other starts with a reference are new challenges on purpose.
 */
function resumableStart(input: StartInput, caller: Caller): string | undefined {
  return caller.via === 'bus' && input.purpose === 'password_reset' && input.ref
    ? input.ref
    : undefined;
}

/**
 * Whether a challenge is the account's own (identity's sign-in, step-up, phone verification or
 * reset, started over the bus), so that its checks count towards the account's consecutive
 * failures and its success clears them, its sign-in codes count as unrequested (C8), and its
 * lock or report e-mails the account's owner. A storefront's challenge names an account its
 * caller chose: it must not reset that account's count (unlimited guesses at its sign-in) nor add
 * to it (locking anyone's sign-in), nor send that account's owner security alerts (anyone with a
 * storefront key could e-mail any account "someone is trying your codes"). A password reset's
 * wrong codes do not count either (anyone who knows the e-mail can start one), but its success
 * clears the count, as identity's does.
 */
function ownedByAccount(record: ChallengeRecord): boolean {
  return record.origin === 'bus' && record.accountId !== undefined;
}

/**
 * The challenge use cases: start, check, resend, read, report, and reacting
 * to failed deliveries and expiry. Shared by the HTTP API and the bus
 * handlers, so both behave the same.
 */
export class ChallengeService {
  constructor(
    private readonly store: ChallengeStore,
    private readonly guard: SendGuard,
    private readonly messenger: Messenger,
    private readonly events: EventPublisher,
    private readonly hasher: KeyedHasher,
    private readonly signals: AccountSignals,
    private readonly pumping: RedisPumping,
    private readonly clock: Clock,
    private readonly config: OtpConfig,
    private readonly metrics: OtpMetrics,
    private readonly logger: Logger,
  ) {}

  async start(input: StartInput, caller: Caller): Promise<ChallengeViewOut> {
    const now = this.clock.nowMs();
    const twoStep = isTwoStep(input.purpose, input.twoStep);
    const destination = this.guard.destination(input.channel, input.to, input.country);
    const intent = {
      purpose: input.purpose,
      channel: input.channel,
      destination,
      accountId: input.accountId,
      clientIp: input.clientIp,
      twoStep,
    };
    const resumable = resumableStart(input, caller);
    if (resumable) {
      const again = await this.startedAgain(resumable, input, destination.value, now);
      if (again) return again;
    }
    const { gates, prefix } = this.guard.plan(intent, now);

    const id = randomUUID();
    const code = generateNumericCode(this.config.codes.length);
    const { kid, digest } = this.hasher.codeDigest(id, code);
    const ttlMs = codeTtlMs(this.config.codes.ttlMs, input.purpose, input.channel);
    const record: ChallengeRecord = {
      id,
      purpose: input.purpose,
      status: 'pending',
      channel: input.channel,
      kid,
      digest: digest.toString('hex'),
      createdAt: now,
      expiresAt: now + ttlMs,
      attemptsLeft: this.config.codes.maxAttempts,
      sends: 1,
      lastSentAt: now,
      resendAt: now + this.config.codes.cooldownMs,
      messageId: randomUUID(),
      twoStep,
      reported: false,
      origin: caller.via,
      ...(caller.via === 'http' ? { client: caller.client } : {}),
      ...(input.accountId ? { accountId: input.accountId } : {}),
      ...(input.phoneId ? { phoneId: input.phoneId } : {}),
      ...(input.ref !== undefined ? { ref: input.ref } : {}),
      ...(input.locale ? { locale: input.locale } : {}),
      ...(destination.value ? { destination: destination.value } : {}),
      ...(destination.phone ? { phone: destination.phone.e164 } : {}),
      ...(prefix ? { prefix } : {}),
    };
    // One step: every limit passes and is counted, the challenge exists and the send is
    // observed for the pumping signals; or nothing happens.
    const pump = this.guard.observation(destination, now);
    const created = await this.store.create(record, {
      retentionMs: this.config.codes.retentionMs,
      gates,
      nowMs: now,
      ...(pump ? { pump } : {}),
      ...(input.purpose === 'sign_in' && input.accountId && caller.via === 'bus'
        ? {
            unrequested: {
              keys: unrequestedKeys(input.accountId),
              threshold: this.config.account.unrequestedThreshold,
              windowMs: this.config.account.unrequestedWindowMs,
            },
          }
        : {}),
    });
    if (!created.gates.passed) throw this.guard.refusal(created.gates);
    if (created.observed) this.guard.observed(destination, created.observed);
    let uncertain: DomainError | undefined;
    try {
      await this.messenger.sendCode(this.codeMessage(record, code, ttlMs));
    } catch (error) {
      if (codeNeverLeft(error)) {
        // Nothing was queued, so nothing is pending: remove the challenge, give back what the
        // send took from the limits (an outage must not use up the number's quota), and say so.
        await this.store.discard(id, created.refund).catch(() => undefined);
        throw this.notQueued(error, id);
      }
      // The message may be at the broker and its SMS arrive: the challenge stays
      // as it is (its code verifies, it expires normally); the caller still hears 503.
      uncertain = this.maybeQueued(error, id);
    }
    if (!uncertain)
      this.metrics.issued.inc({ purpose: record.purpose, channel: record.channel, kind: 'first' });
    this.emit(challengeCreatedV1, record);
    if (created.unrequestedAlert > 0 && record.accountId) {
      this.alertOwner(
        'security.unrequested_codes',
        record.accountId,
        `otp:unrequested:${record.accountId}:${record.id}`,
        { count: created.unrequestedAlert },
      );
    }
    if (resumable)
      await this.store.rememberStart(record.purpose, resumable, id, ttlMs).catch(() => undefined);
    if (uncertain) throw uncertain;
    return toView(record, now, this.orderFor(record.purpose));
  }

  /**
   * The same start again (a caller retrying after it lost the answer, whose code may well have
   * gone out): the pending challenge it made, to the same destination, instead of a second code
   * that would kill the first.
   */
  private async startedAgain(
    ref: string,
    input: StartInput,
    destination: string | undefined,
    now: number,
  ): Promise<ChallengeViewOut | undefined> {
    const id = await this.store.startedFor(input.purpose, ref);
    const record = id ? await this.store.load(id) : undefined;
    // Its code was reported ("I didn't ask for this"): the flow ended with it, no new code goes out.
    if (
      record &&
      record.origin === 'bus' &&
      record.accountId === input.accountId &&
      (record.reported || record.endReason === 'reported')
    ) {
      this.logger.info(
        { challengeId: record.id },
        'start repeated after its code was reported: refused',
      );
      throw new DomainError(
        'code_expired',
        'The code of this flow was reported as not asked for; the flow has ended.',
        { reason: 'reported' },
      );
    }
    if (
      !record ||
      record.origin !== 'bus' ||
      effectiveStatus(record, now) !== 'pending' ||
      record.channel !== input.channel ||
      record.destination !== destination ||
      record.accountId !== input.accountId
    )
      return undefined;
    this.logger.info({ challengeId: record.id }, 'start repeated; the pending challenge answers');
    return toView(record, now, this.orderFor(record.purpose));
  }

  async check(input: CheckInput, caller: Caller): Promise<ChallengeViewOut> {
    const code = normalizeNumericCode(input.code);
    for (let round = 0; round < STALE_RETRIES; round++) {
      const now = this.clock.nowMs();
      const record = await this.load(input.id, caller);
      // Constant-time compare in Node (C3); the script then applies the result
      // only if the stored digest is still the one compared against.
      const candidate = this.hasher.codeCandidate(record.kid, record.id, code);
      const stored = record.digest ? Buffer.from(record.digest, 'hex') : undefined;
      const match = digestsEqual(candidate, stored);
      const applied = await this.store.check({
        id: record.id,
        observedDigest: record.digest,
        match,
        nowMs: now,
        ...(input.purpose ? { purpose: input.purpose } : {}),
        ...(input.ref ? { ref: input.ref } : {}),
        ...(record.accountId ? { accountId: record.accountId } : {}),
        accountCounts: !ownedByAccount(record)
          ? 'none'
          : record.purpose === 'password_reset'
            ? 'clear'
            : 'count',
        account: this.config.account,
        ...(record.prefix ? { verified: this.pumping.verifiedKey(record.prefix, now) } : {}),
        ...(record.accountId && record.purpose === 'sign_in' && ownedByAccount(record)
          ? { unrequested: unrequestedKeys(record.accountId) }
          : {}),
      });
      if (applied.outcome === 'stale') continue;
      this.metrics.checks.inc({ purpose: record.purpose, outcome: applied.outcome });
      const left = applied.attemptsLeft;
      switch (applied.outcome) {
        case 'not_found':
          throw this.notFound();
        case 'approved': {
          const approved: ChallengeRecord = { ...record, status: 'approved', digest: '' };
          this.emit(challengeApprovedV1, approved);
          return toView(approved, now, this.orderFor(approved.purpose));
        }
        case 'mismatch':
          this.emit(
            challengeFailedAttemptV1,
            { ...record, attemptsLeft: left },
            { consecutiveFailures: applied.accountFailures },
          );
          this.afterAccountFailure(record, applied.accountFailures);
          throw new DomainError('code_mismatch', 'That code is not right.', {
            attemptsRemaining: left,
          });
        case 'locked_now':
          this.emit(
            challengeFailedAttemptV1,
            { ...record, attemptsLeft: 0 },
            { consecutiveFailures: applied.accountFailures },
          );
          this.emit(challengeLockedV1, { ...record, attemptsLeft: 0 });
          this.afterAccountFailure(record, applied.accountFailures);
          if (record.accountId && ownedByAccount(record))
            this.alertOwner('security.lockout', record.accountId, `otp:lockout:${record.id}`, {
              scope: 'challenge',
            });
          throw this.tooManyAttempts(record, now);
        case 'locked':
          throw this.tooManyAttempts(record, now);
        case 'account_locked':
          throw new DomainError(
            'account_locked',
            'Too many wrong codes for this account; sign-in is locked for a while.',
            {
              retryAfter: Math.ceil(applied.accountLockMs / 1000),
            },
          );
        case 'expired_now':
          this.emit(challengeExpiredV1, { ...record, status: 'expired' });
          throw this.expired();
        case 'used':
        case 'expired':
          throw this.expired();
      }
    }
    throw new DomainError(
      'service_unavailable',
      'The verification changed while it was checked; try again.',
      { retryAfter: 1 },
    );
  }

  async resend(input: ResendInput, caller: Caller): Promise<ChallengeViewOut> {
    const record = await this.load(input.id, caller);
    this.refuseNewDestination(record, input, caller);
    return this.resendRecord(record, input);
  }

  private async resendRecord(
    record: ChallengeRecord,
    input: Omit<ResendInput, 'id'>,
    options: ResendOptions = {},
  ): Promise<ChallengeViewOut> {
    const now = this.clock.nowMs();
    this.refuseResend(record, now, options.fallbackFor !== undefined);

    const channel = input.channel ?? record.channel;
    const destination = this.resendDestination(record, channel, input);
    const { gates, prefix } = this.guard.plan(
      {
        purpose: record.purpose,
        channel,
        destination,
        accountId: record.accountId,
        clientIp: input.clientIp,
        twoStep: record.twoStep,
      },
      now,
    );
    const pump = this.guard.observation(destination, now);
    const code = generateNumericCode(this.config.codes.length);
    const { kid, digest } = this.hasher.codeDigest(record.id, code);
    const ttlMs = codeTtlMs(this.config.codes.ttlMs, record.purpose, channel);
    const messageId = randomUUID();
    // One step: the challenge's cooldown and max sends first, so a refused resend takes
    // nothing from the limits; then every limit; then the new code and the pumping observation.
    const applied = await this.store.resend({
      id: record.id,
      nowMs: now,
      gates,
      ...(pump ? { pump } : {}),
      maxSends: this.config.codes.maxSends,
      cooldownMs: this.config.codes.cooldownMs,
      cooldownMaxMs: this.config.codes.cooldownMaxMs,
      bypassCooldown: options.fallbackFor !== undefined,
      kid,
      digest: digest.toString('hex'),
      ttlMs,
      retentionMs: this.config.codes.retentionMs,
      channel,
      ...(destination.value ? { destination: destination.value } : {}),
      messageId,
      ...(prefix ? { prefix } : {}),
      ...(options.fallbackFor ? { expectMessageId: options.fallbackFor } : {}),
    });
    if (applied.refused) throw this.guard.refusal(applied.refused);
    if (applied.outcome !== 'ok') {
      if (applied.outcome === 'expired_now')
        this.emit(challengeExpiredV1, { ...record, status: 'expired' });
      if (applied.outcome === 'stale') return toView(record, now, this.orderFor(record.purpose));
      this.refuseResend(
        {
          ...record,
          status: applied.outcome === 'expired_now' ? 'expired' : record.status,
          sends: applied.sends,
          resendAt: applied.resendAt,
        },
        now,
        options.fallbackFor !== undefined,
        applied.outcome,
        applied.retryAfterMs,
      );
      throw new DomainError('conflict', 'This verification cannot be resent now.');
    }
    const updated: ChallengeRecord = {
      ...record,
      channel,
      kid,
      digest: digest.toString('hex'),
      expiresAt: applied.expiresAt,
      sends: applied.sends,
      lastSentAt: now,
      resendAt: applied.resendAt,
      messageId,
      ...(prefix ? { prefix } : {}),
    };
    delete updated.delivery;
    if (destination.value) updated.destination = destination.value;
    else delete updated.destination;
    if (applied.observed) this.guard.observed(destination, applied.observed);
    try {
      await this.messenger.sendCode(this.codeMessage(updated, code, ttlMs));
    } catch (error) {
      if (codeNeverLeft(error)) {
        // Let the person ask again at once: this send never left, and takes nothing from the
        // limits. An automatic fallback puts the failed send back, so the bus's retry of its
        // outcome falls back again.
        await this.store
          .undoCooldown({
            id: record.id,
            messageId,
            nowMs: now,
            channel,
            ...(options.fallbackFor ? { restore: record } : {}),
            ...(applied.refund ? { refund: applied.refund } : {}),
          })
          .catch(() => undefined);
        throw this.notQueued(error, record.id);
      }
      // The store holds the new code's digest (the old code is dead, C9), and this code
      // may reach the phone: leave it so, cooldown included, and still answer 503.
      const uncertain = this.maybeQueued(error, record.id);
      await this.noteSignInCode(updated);
      throw uncertain;
    }
    this.metrics.issued.inc({
      purpose: updated.purpose,
      channel,
      kind: options.fallbackFor ? 'fallback' : 'resend',
    });
    await this.noteSignInCode(updated);
    return toView(updated, now, this.orderFor(updated.purpose));
  }

  async get(id: string, caller: Caller): Promise<ChallengeViewOut> {
    const record = await this.load(id, caller);
    return toView(record, this.clock.nowMs(), this.orderFor(record.purpose));
  }

  /**
   * The challenge, if this caller may see it: the HTTP API reaches only the challenges its own
   * key started, the bus only identity's. Any other is "not found", the answer for an unknown id
   * (nothing to enumerate), and costs it nothing.
   */
  private async load(id: string, caller: Caller): Promise<ChallengeRecord> {
    const record = await this.store.load(id);
    if (!record || !reachableBy(record, caller)) throw this.notFound();
    return record;
  }

  /** The link in every code message; a wrong token is "not found" (nothing to learn from it). */
  reportUrl(challengeId: string): string {
    return `${this.config.publicBaseUrl}/v1/verifications/${challengeId}/report?t=${encodeURIComponent(reportToken(this.hasher, challengeId))}`;
  }

  /** Whether a report link's token is this challenge's; a wrong one is "not found". Changes nothing. */
  checkReportToken(id: string, token: string): void {
    if (!verifyReportToken(this.hasher, id, token)) throw this.notFound();
  }

  /** "I didn't ask for this": kills the pending code; tells the owner (once) of an account's own. */
  async report(id: string, token: string): Promise<{ id: string; status: 'reported' }> {
    this.checkReportToken(id, token);
    const { outcome } = await this.store.report(id);
    if (outcome === 'not_found') throw this.notFound();
    if (outcome === 'already') return { id, status: 'reported' };
    const record = await this.store.load(id);
    if (record && outcome === 'killed') this.emit(challengeExpiredV1, record);
    if (record?.accountId && ownedByAccount(record)) {
      this.alertOwner('security.code_reported', record.accountId, `otp:report:${id}`, {
        purpose: record.purpose,
        channel: record.channel,
      });
    }
    this.logger.info(
      { challengeId: id, killed: outcome === 'killed' },
      'code reported as unrequested',
    );
    return { id, status: 'reported' };
  }

  /** A failed or dropped code message (from the notifier): record it and maybe fall back to the next channel. */
  async onDeliveryOutcome(
    outcome: DeliveryOutcome,
    data: {
      messageId: string;
      channel?: Channel;
      reason?: string;
      origin?: { service: string; ref?: string };
    },
  ): Promise<void> {
    if (data.origin?.service !== 'otp' || !data.origin.ref) return;
    const id = data.origin.ref;
    const now = this.clock.nowMs();
    const recorded = await this.store.recordDelivery(
      id,
      data.messageId,
      outcome,
      data.channel,
      data.reason ?? outcome,
      now,
    );
    if (recorded !== 'recorded') return;
    const record = await this.store.load(id);
    const next =
      record && effectiveStatus(record, now) === 'pending'
        ? nextChannel(record, this.orderFor(record.purpose))
        : undefined;
    const auto = this.config.autoFallback && next !== undefined;
    this.metrics.deliveryOutcomes.inc({
      outcome,
      channel: data.channel ?? record?.channel ?? 'unknown',
      fallback: auto ? 'auto' : 'offered',
    });
    this.logger.info(
      { challengeId: id, outcome, reason: data.reason, next, auto },
      'code delivery failed',
    );
    if (!auto || !record) return;
    try {
      await this.resendRecord(record, { channel: next }, { fallbackFor: data.messageId });
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      // A refusal (limits, max sends) is final for this fallback; an outage is retried by the bus.
      if (error.retryable) throw error;
      this.logger.warn({ challengeId: id, code: error.code }, 'automatic fallback refused');
    }
  }

  /** Marks pending challenges past their expiry as expired and publishes the event for each (once). */
  async sweepExpired(limit = 200): Promise<number> {
    const ids = await this.store.sweep(this.clock.nowMs(), limit);
    for (const id of ids) {
      const record = await this.store.load(id);
      if (record) this.emit(challengeExpiredV1, record);
    }
    return ids.length;
  }

  /**
   * Channels to offer or fall back to. E-mail is a weaker factor (NIST
   * 800-63B-4 does not allow it for out-of-band authentication, SECURITY S7):
   * for sign-in and step-up it is offered only when OTP_EMAIL_SIGNIN_FALLBACK
   * says so. A caller may still ask for e-mail explicitly (its own policy).
   */
  private orderFor(purpose: ChallengePurpose): Channel[] {
    const twoStep = purpose === 'sign_in' || purpose === 'step_up';
    return twoStep && !this.config.emailSignInFallback
      ? this.config.fallbackOrder.filter((c) => c !== 'email')
      : this.config.fallbackOrder;
  }

  private refuseResend(
    record: ChallengeRecord,
    now: number,
    fallback: boolean,
    outcome?: string,
    retryAfterMs?: number,
  ): void {
    const status = outcome === 'expired_now' ? 'expired' : effectiveStatus(record, now);
    if (status === 'approved')
      throw new DomainError('conflict', 'This verification is already approved.');
    if (status === 'locked') throw this.tooManyAttempts(record, now);
    if (status === 'expired') throw this.expired();
    if (outcome === 'max_sends' || record.sends >= this.config.codes.maxSends) {
      // No resend will ever succeed for this challenge: the honest wait is until it ends.
      throw new DomainError(
        'rate_limited',
        `At most ${this.config.codes.maxSends} codes are sent for one verification.`,
        {
          retryAfter: Math.ceil((retryAfterMs ?? record.expiresAt - now) / 1000),
        },
      );
    }
    if (!fallback && (outcome === 'cooldown' || now < record.resendAt)) {
      throw new DomainError('resend_cooldown', 'A new code can be sent a little later.', {
        retryAfter: Math.ceil((retryAfterMs ?? record.resendAt - now) / 1000),
        resendAvailableAt: new Date(record.resendAt).toISOString(),
      });
    }
  }

  /**
   * A resend keeps the challenge's destination: that destination is what its code proves. Only
   * a `custom` flow may name another (its caller's own flow, and the challenge answers no one
   * else). Over the bus identity may give a sign-in the account's e-mail address or its number
   * when it switches between them, but never another number than the challenge's.
   */
  private refuseNewDestination(record: ChallengeRecord, input: ResendInput, caller: Caller): void {
    if (input.to === undefined || record.purpose === 'custom') return;
    if (caller.via === 'bus') {
      const channel = input.channel ?? record.channel;
      if (channel === 'email' || record.phone === undefined) return;
      if (this.guard.destination(channel, input.to, input.country).value === record.phone) return;
    }
    throw invalidField(
      'to',
      'not_allowed',
      `a ${record.purpose} verification keeps its destination; start a new one for another`,
    );
  }

  /**
   * E-mail goes to the address given now, or the challenge's own, or (where the challenge may use
   * it, `mayUseAccountEmail`) its account's. A storefront's non-custom verification has no other:
   * switching it to e-mail without an address it was started with is refused, changing nothing.
   */
  private resendDestination(
    record: ChallengeRecord,
    channel: Channel,
    input: Omit<ResendInput, 'id'>,
  ) {
    if (channel === 'email') {
      const to = input.to ?? (record.destination?.includes('@') ? record.destination : undefined);
      if (to === undefined && !mayUseAccountEmail(record)) {
        throw record.origin === 'http' && record.purpose !== 'custom'
          ? invalidField(
              'channel',
              'not_allowed',
              `this ${record.purpose} verification has no e-mail address; start a new one by e-mail`,
            )
          : invalidField('to', 'required', 'an e-mail address is needed to switch to e-mail');
      }
      return this.guard.destination('email', to);
    }
    return this.guard.destination(
      channel,
      input.to ?? record.phone,
      input.to ? input.country : undefined,
    );
  }

  private codeMessage(record: ChallengeRecord, code: string, ttlMs: number) {
    return {
      challengeId: record.id,
      purpose: record.purpose,
      channel: record.channel,
      ...(record.destination ? { to: record.destination } : {}),
      ...(record.accountId ? { accountId: record.accountId } : {}),
      ...(record.locale ? { locale: record.locale } : {}),
      code,
      sendNo: record.sends,
      expiresAt: record.expiresAt,
      ttlMs,
      messageId: record.messageId,
      reportUrl: this.reportUrl(record.id),
    };
  }

  private afterAccountFailure(record: ChallengeRecord, failures: number): void {
    if (!record.accountId || !ownedByAccount(record)) return;
    if (failures !== this.config.account.failureLimit) return;
    this.logger.warn({ accountId: record.accountId, failures }, 'account sign-in locked');
    this.alertOwner(
      'security.lockout',
      record.accountId,
      `otp:account-lock:${record.accountId}:${this.clock.nowMs()}`,
      { scope: 'account', minutes: Math.round(this.config.account.lockMs / 60_000) },
    );
  }

  private async noteSignInCode(record: ChallengeRecord): Promise<void> {
    if (record.purpose !== 'sign_in' || !record.accountId || !ownedByAccount(record)) return;
    try {
      const count = await this.signals.noteSignInCode(record.accountId);
      if (count > 0) {
        this.alertOwner(
          'security.unrequested_codes',
          record.accountId,
          `otp:unrequested:${record.accountId}:${record.id}`,
          { count },
        );
      }
    } catch (error) {
      this.warn(error, 'unrequested-code signal failed');
    }
  }

  /**
   * Security alerts and domain events are published with confirms (the bus
   * re-sends after a nack or reconnect) but not waited for: the challenge's
   * state is in Redis and the caller's answer does not depend on them. A
   * publish that finally fails is counted and logged.
   */
  private alertOwner(
    template: SecurityAlert,
    accountId: string,
    dedupeKey: string,
    variables: Record<string, string | number>,
  ): void {
    this.messenger
      .alert(template, accountId, dedupeKey, {
        at: new Date(this.clock.nowMs()).toISOString(),
        ...variables,
      })
      .catch((error: unknown) => {
        this.metrics.publishFailures.inc({ type: template });
        this.warn(error, 'security alert not published');
      });
  }

  private emit<C extends EventContract>(
    contract: C,
    record: ChallengeRecord,
    extra: Record<string, unknown> = {},
  ): void {
    const subject = {
      ...(record.accountId ? { accountId: record.accountId } : {}),
      ...(record.phoneId ? { phoneId: record.phoneId } : {}),
      ...(record.ref !== undefined ? { ref: record.ref } : {}),
    };
    const data = {
      challengeId: record.id,
      purpose: record.purpose,
      subject,
      channel: record.channel,
      attemptsLeft: record.attemptsLeft,
      ...extra,
    };
    let published: Promise<void>;
    try {
      // Informational: nobody may be subscribed, and that must not hold the caller.
      published = this.events.publish(contract, data as never, { unroutable: 'drop' });
    } catch (error) {
      published = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    published.catch((error: unknown) => {
      this.metrics.publishFailures.inc({ type: contract.type });
      this.warn(error, 'event not published');
    });
  }

  private warn(error: unknown, msg: string): void {
    this.logger.warn({ err: error }, msg);
  }

  private notFound(): DomainError {
    return new DomainError('not_found', 'No such verification.');
  }

  private expired(): DomainError {
    return new DomainError(
      'code_expired',
      'This code has expired or was already used; ask for a new one.',
    );
  }

  private tooManyAttempts(record: ChallengeRecord, now: number): DomainError {
    return new DomainError(
      'too_many_attempts',
      'Too many wrong codes; this verification is locked. Start a new one.',
      {
        attemptsRemaining: 0,
        retryAfter: Math.max(1, Math.ceil((record.expiresAt - now) / 1000)),
      },
    );
  }

  private notQueued(error: unknown, challengeId: string): DomainError {
    this.metrics.codeSendFailures.inc({ outcome: 'not_sent' });
    this.logger.error({ err: error, challengeId }, 'code message not queued');
    return this.codeNotSent();
  }

  /** The same answer as notQueued(): the caller cannot know either. */
  private maybeQueued(error: unknown, challengeId: string): DomainError {
    this.metrics.codeSendFailures.inc({ outcome: 'uncertain' });
    this.logger.error(
      { err: error, challengeId },
      'code message may have been queued; the challenge is kept',
    );
    return this.codeNotSent();
  }

  private codeNotSent(): DomainError {
    return new DomainError(
      'service_unavailable',
      'The code could not be sent; try again shortly.',
      { retryAfter: 1 },
    );
  }
}
