import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { type ChallengeView, signinChallengedV1 } from '@phonegate/contracts';
import { Clock, DomainError } from '@phonegate/platform';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { AccountEntity } from '../accounts/account.entity';
import {
  ACCOUNT_COLUMNS,
  accountFromRow,
  type AccountRow,
  findAccount,
  phonesOf,
  primaryPhone,
} from '../accounts/account.repository';
import { normalizeEmail } from '../accounts/accounts.service';
import type { IdentityConfig } from '../config/identity.config';
import type { EventOutbox } from '../events/event-outbox';
import type { OtpGateway } from '../otp/otp.gateway';
import { challengeIfKnown, isDomain, unansweredSend, unknownAsExpired } from '../otp/otp-errors';
import { acceptsChannel } from '../phones/phone-number';
import { afterResend, afterStart, type VerificationSends, withVerificationCooldown } from '../phones/verification-sends';
import type { PhoneEntity } from '../phones/phone.entity';
import { CodeAccounting } from '../security/code-accounting';
import type { PasswordHasher } from '../security/password-hasher';
import { AttemptLimiter, keyPart } from '../security/signin-throttle';
import { JsonStore } from '../shared/json-store';
import {
  EVENT_OUTBOX,
  IDENTITY_CONFIG,
  IDENTITY_REDIS,
  OTP_GATEWAY,
  PASSWORD_HASHER,
} from '../tokens';
import { settingsOf } from '../two-step/two-step.service';
import { firstFactor, type SigninFactor, signinFactors } from '../two-step/two-step.policy';
import { IpCountryLookup } from './ip-country';
import { reported } from './reported-challenge';
import { stillVerified } from './code-destination';
import { credentialsEpoch, outdatedBy, type PendingLogin } from './login.store';
import { type DeviceRecord, type DeviceStanding, deviceStanding, findDevice } from './remembered-device';
import { type IssueGuard, type SigninDevice, SessionIssuer } from './session-issuer';
import {
  loginSends,
  refusedDestination,
  resendCooldown,
  SIGNIN_MAX_SENDS,
  sendsBeforeRestart,
  signinResendPlan,
} from './signin-resend';

export interface SignInRequest {
  email: string;
  password: string;
  device: SigninDevice & { ip: string };
}

const INVALID = 'The e-mail address or the password is not right.';

@Injectable()
export class SignInService implements OnModuleInit {
  private readonly logins: JsonStore<PendingLogin>;
  private readonly limiter: AttemptLimiter;
  private readonly countries: IpCountryLookup;
  /** A real argon2id hash of a random secret with the configured cost: unknown e-mails verify against it. */
  private dummyHash: string | undefined;

  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    @Inject(IDENTITY_CONFIG) private readonly config: IdentityConfig,
    @Inject(IDENTITY_REDIS) redis: Redis,
    @Inject(PASSWORD_HASHER) private readonly hasher: PasswordHasher,
    @Inject(OTP_GATEWAY) private readonly otp: OtpGateway,
    @Inject(EVENT_OUTBOX) private readonly outbox: EventOutbox,
    private readonly issuer: SessionIssuer,
    private readonly codes: CodeAccounting,
  ) {
    this.logins = new JsonStore(redis, 'login');
    this.limiter = new AttemptLimiter(redis, config.IDENTITY_SIGNIN_FAILURE_WINDOW);
    this.countries = new IpCountryLookup(
      config.IDENTITY_IP_COUNTRIES,
      config.IDENTITY_TRUST_COUNTRY_HEADER,
    );
  }

  async onModuleInit(): Promise<void> {
    this.dummyHash = await this.hasher.hash(randomUUID());
  }

  /**
   * Password first (one argon2 verification whether or not the e-mail
   * exists, same answer, S6), then a code when two-step is on and the device
   * is not remembered or the country changed. An account locked by wrong codes
   * (C8) is refused only there, where a code would be asked: with two-step
   * off or from a remembered device the right password still signs in.
   *
   * A session is written only while, under the account's lock, the password hash and
   * credentials epoch the password was checked against are still the account's (a reset
   * completing meanwhile: 401, as the wrong password it now is) and a remembered device
   * still is (else a code is asked).
   */
  async start(input: SignInRequest, headerCountry?: string) {
    const emailKey = `signin:acct:${keyPart(normalizeEmail(input.email))}`;
    const ipKey = `signin:ip:${keyPart(input.device.ip)}`;
    const limits = [
      { key: emailKey, max: this.config.IDENTITY_SIGNIN_MAX_FAILURES_PER_ACCOUNT },
      { key: ipKey, max: this.config.IDENTITY_SIGNIN_MAX_FAILURES_PER_IP },
    ];
    await this.limiter.reserve(limits, 'Too many failed sign-ins; wait and try again.');
    const found = await this.findForSignIn(normalizeEmail(input.email), input.device.id);
    const account = found?.account;
    const digest =
      account?.passwordHash ?? this.dummyHash ?? (await this.hasher.hash(randomUUID()));
    const matches = await this.hasher.verify(digest, input.password);
    if (!found || !account || !matches) throw invalidCredentials();
    await this.limiter.release([emailKey], [ipKey]);
    const checkedHash = this.hasher.needsRehash(account.passwordHash)
      ? await this.rehash(account, input.password)
      : account.passwordHash;
    const current = this.stillCurrent(account, checkedHash, input.password);

    const device = {
      id: input.device.id,
      ...(input.device.name ? { name: input.device.name } : {}),
    };
    const country = this.countries.countryOf(input.device.ip, headerCountry);
    let reason: Exclude<DeviceStanding, 'remembered'>;
    try {
      if (!account.twoStepEnabled) return await this.session(account, device, country, ['pwd'], false, current);
      const standing = deviceStanding(found.device, country, this.clock.nowMs());
      if (standing === 'remembered') {
        // Still remembered under the lock (a reset forgets every device; the owner may forget this one).
        const remembered: IssueGuard = async (locked, m) => {
          await current(locked, m);
          const standingNow = deviceStanding(await findDevice(m, account.id, device.id), country, this.clock.nowMs());
          if (standingNow !== 'remembered') throw new NoLongerRemembered(standingNow);
        };
        return await this.session(account, device, country, ['pwd', 'device'], false, remembered);
      }
      reason = standing;
    } catch (error) {
      if (error instanceof CredentialsChanged) {
        // A wrong password now: counted as one (a full window still answers 401 here).
        await this.limiter.reserve(limits).catch(() => undefined);
        throw invalidCredentials();
      }
      if (!(error instanceof NoLongerRemembered)) throw error;
      reason = error.standing;
    }
    // C8's lock guards the second factor: only a sign-in that would ask for a code meets it.
    await this.codes.assertNotLocked(account.id);
    try {
      return await this.challenge(account, input, country, reason, current);
    } catch (error) {
      if (!(error instanceof CredentialsChanged)) throw error;
      // Lost to a reset before its code went out: a wrong password now, and no code sent.
      await this.limiter.reserve(limits).catch(() => undefined);
      throw invalidCredentials();
    }
  }

  /**
   * The account of an e-mail address with its record of the device, in one read: a reset
   * completing changes the password and forgets the devices in one transaction, so a
   * sign-in sees both before it or both after it.
   */
  private async findForSignIn(
    emailNormalized: string,
    deviceId: string,
  ): Promise<{ account: AccountEntity; device: DeviceRecord | undefined } | undefined> {
    const rows = await this.db.query<(AccountRow & { device_remembered_until: Date | null; device_last_country: string | null; device_seen: boolean })[]>(
      `SELECT ${ACCOUNT_COLUMNS}, d.remembered_until AS device_remembered_until,
              d.last_country AS device_last_country, d.seen AS device_seen
       FROM accounts
       LEFT JOIN LATERAL (
         SELECT remembered_until, last_country, true AS seen FROM devices
         WHERE devices.account_id = accounts.id AND devices.device_id = $2
       ) d ON true
       WHERE email_normalized = $1`,
      [emailNormalized, deviceId],
    );
    const row = rows[0];
    if (!row) return undefined;
    const device = row.device_seen
      ? { remembered_until: row.device_remembered_until, last_country: row.device_last_country }
      : undefined;
    return { account: accountFromRow(row), device };
  }

  /**
   * The guard of a session from a password checked against `checkedHash` with the account
   * as `checked` read it: under the lock, the credentials epoch must be the same (a reset
   * moves it) and the password the account's. Another sign-in's rehash of the same password
   * changes the hash alone: only then is the password checked again, against the new hash.
   */
  private stillCurrent(checked: AccountEntity, checkedHash: string, password: string): IssueGuard {
    const epoch = credentialsEpoch(checked.sessionsValidAfter);
    return async (locked) => {
      if (credentialsEpoch(locked.sessionsValidAfter) !== epoch) throw new CredentialsChanged();
      if (locked.passwordHash === checkedHash) return;
      if (!(await this.hasher.verify(locked.passwordHash, password))) throw new CredentialsChanged();
    };
  }

  /** Finishes a challenged sign-in with its code (or a TOTP / backup code). */
  async verify(
    loginId: string,
    code: string,
    rememberDevice: boolean,
    factor?: 'totp' | 'backup_code',
  ) {
    const login = await this.pending(loginId);
    const account = await findAccount(this.db, login.accountId);
    await this.assertCurrent(loginId, login, account);
    await this.codes.assertNotLocked(account.id);
    const kind = factor ?? login.factor;
    if (!login.factors.includes(kind)) throw unavailable(kind, login.factors);
    // A code that went to a number (SMS, voice) finishes the sign-in only while the number is the account's.
    const toNumber = kind === login.factor && (kind === 'sms' || kind === 'voice');
    if (toNumber && !stillVerified(await phonesOf(this.db, account.id), login.challengePhoneId)) {
      return this.end(loginId, numberGone());
    }
    const challengeId =
      kind === 'totp' || kind === 'backup_code' ? undefined : (login.challengeId ?? undefined);
    await this.codes.check(
      account,
      'sign_in',
      async () => {
        if (kind === 'totp' || kind === 'backup_code') {
          await this.otp.verifyFactor({ accountId: account.id, kind, code, purpose: 'sign_in' });
        } else if (kind !== login.factor || !login.challengeId) {
          throw new DomainError(
            'code_expired',
            'No code was sent on this channel; ask for one with resend.',
          );
        } else {
          await unknownAsExpired(
            this.otp.check({
              challengeId: login.challengeId,
              code,
              purpose: 'sign_in',
              ref: loginId,
            }),
          );
        }
      },
      challengeId,
    );
    // Single use: of concurrent winners only one takes the login.
    const taken = await this.logins.take(loginId);
    if (!taken) throw expired();
    // Again under the account's lock, with the session's write: a reset completing or the number removed meanwhile.
    const guard: IssueGuard = async (locked, m) => {
      if (outdatedBy(login, locked.sessionsValidAfter, this.config.IDENTITY_LOGIN_TTL)) throw expired();
      if (toNumber && !stillVerified(await phonesOf(m, account.id), login.challengePhoneId)) throw numberGone();
    };
    return this.session(account, login.device, login.country, ['pwd', kind], rememberDevice, guard);
  }

  /**
   * A sign-in started before the account's password was last reset, or one whose code the
   * owner reported ("I didn't ask for this": otp ended that challenge, endReason
   * `reported`, or marked it `reported` after it had already ended), never finishes nor sends
   * again: it ends (410, as one that expired).
   */
  private async assertCurrent(loginId: string, login: PendingLogin, account: AccountEntity): Promise<void> {
    const challenges = [...(login.earlierChallengeIds ?? []), ...(login.challengeId ? [login.challengeId] : [])];
    const ended =
      outdatedBy(login, account.sessionsValidAfter, this.config.IDENTITY_LOGIN_TTL) ||
      (await Promise.all(challenges.map((id) => this.currentChallenge(id)))).some(reported);
    if (ended) await this.end(loginId, expired());
  }

  /** Ends a pending sign-in (nothing can finish or resend it any more) with `error`. */
  private async end(loginId: string, error: DomainError): Promise<never> {
    await this.logins.delete(loginId);
    throw error;
  }

  /** Sends a new code, or switches channel among the login's factors. */
  resend(loginId: string, channel?: 'sms' | 'voice' | 'email') {
    return this.resendOnce(loginId, channel, true);
  }

  /**
   * One resend: `again` lets it wait for a concurrent resend that is moving the login
   * to a new challenge and then answer as a resend of that one (otp's cooldown: 429).
   */
  private async resendOnce(
    loginId: string,
    channel: 'sms' | 'voice' | 'email' | undefined,
    again: boolean,
  ): Promise<{ loginId: string; challenge: ReturnType<SignInService['challengeView']> }> {
    const login = await this.pending(loginId);
    const target: SigninFactor = channel ?? login.factor;
    if (!login.factors.includes(target)) throw unavailable(target, login.factors);
    if (target === 'totp' || target === 'backup_code') {
      throw new DomainError(
        'validation_failed',
        'Nothing is sent for an authenticator or backup code; type one in.',
        {
          errors: [
            { field: 'channel', code: 'not_sendable', message: 'Choose sms, voice or email.' },
          ],
        },
      );
    }
    const account = await findAccount(this.db, login.accountId);
    await this.assertCurrent(loginId, login, account);
    const phone = primaryPhone(await phonesOf(this.db, account.id));
    const to = target === 'email' ? account.email : phone?.e164;
    if (!to)
      throw new DomainError('factor_not_ready', 'This account has no verified number any more.');

    // The challenge again while it reaches the primary number as it is now; else a new one to it.
    const plan = signinResendPlan(login, target, {
      email: account.email,
      primaryPhoneId: phone?.id,
      ...(phone ? { primaryNumber: phone.e164 } : {}),
    });
    if (plan.kind === 'resend') {
      // After a resend started this challenge, the sign-in's earlier codes count too: its
      // resends stay within the sign-in's 5 codes and its cooldown goes on doubling (otp
      // bounds only the challenge's own).
      const carried = (login.sentBefore ?? 0) > 0;
      const record = carried ? loginSends(login) : undefined;
      let current: ChallengeView | undefined;
      if (carried) {
        current = await this.currentChallenge(plan.challengeId);
        sendsBeforeRestart(current, login, this.clock.nowMs(), SIGNIN_MAX_SENDS);
      }
      const askedAt = this.clock.nowMs();
      let challenge: ChallengeView | undefined;
      try {
        challenge = await this.otp.resend({
          challengeId: plan.challengeId,
          channel: target,
          ...(plan.to ? { to: plan.to } : {}),
          clientIp: login.ip,
        });
      } catch (error) {
        const gone = isDomain(error, 'not_found', 'code_expired');
        if (!gone && !(plan.orStart && refusedDestination(error))) throw error;
      }
      if (challenge) {
        const sends = record && current ? afterResend(record, current.sends, askedAt, challenge) : undefined;
        const updated: PendingLogin = { ...login, factor: target, challengeId: challenge.id, ...sends };
        // A login that did not know its challenge's number: otp just took the primary one as it.
        if (plan.orStart) updated.challengePhoneId = phone?.id ?? null;
        if (!(await this.logins.replaceIf(loginId, updated, 'challengeId', login.challengeId))) {
          // A concurrent resend moved the login to a new challenge (whose code is the one
          // that works): answer as a resend of that one; or the sign-in ended.
          if (again) return this.resendOnce(loginId, channel, false);
          throw expired();
        }
        return { loginId, challenge: this.challengeView(updated, withSends(challenge, sends)) };
      }
    }
    return this.restart(loginId, login, account, phone, target, to, channel, again);
  }

  /**
   * A new challenge in place of the login's current one. Of concurrent resends that read the
   * same login only the one that claims the move away from its current challenge starts one
   * (so one code is sent); the others wait for it and answer as a resend of the new challenge.
   */
  private async restart(
    loginId: string,
    login: PendingLogin,
    account: AccountEntity,
    phone: PhoneEntity | undefined,
    target: 'sms' | 'voice' | 'email',
    to: string,
    channel: 'sms' | 'voice' | 'email' | undefined,
    again: boolean,
  ) {
    const from = login.challengeId;
    const replaced = from ? await this.currentChallenge(from) : undefined;
    // Reported since the login was read (its resend found it ended): the sign-in ends, no new code.
    if (reported(replaced)) await this.end(loginId, expired());
    const sentBefore = sendsBeforeRestart(replaced, login, this.clock.nowMs(), SIGNIN_MAX_SENDS);
    const claim = `restart:${loginId}:${from ?? 'none'}`;
    // Held past the one otp call under it (a start), within its deadline.
    const timeoutMs = this.config.IDENTITY_OTP_TIMEOUT;
    const claimMs = 2 * timeoutMs + 1_000;
    const token = await this.logins.claim(claim, claimMs);
    if (!token) {
      if (again && (await this.awaitMove(loginId, from, claim, claimMs))) {
        return this.resendOnce(loginId, channel, false);
      }
      const waitMs = Math.max(1_000, await this.logins.claimedFor(claim));
      throw resendCooldown(waitMs, this.clock.nowMs() + waitMs);
    }
    let challenge: ChallengeView;
    let startedAt: number | undefined;
    let askedAt = this.clock.nowMs();
    try {
      // The claim is taken once per challenge: a resend that read the login before another moved it on stops here.
      const current = await this.pending(loginId);
      if (current.challengeId !== from) {
        if (again) return this.resendOnce(loginId, channel, false);
        throw resendCooldown(1_000, this.clock.nowMs() + 1_000);
      }
      startedAt = Date.now();
      askedAt = this.clock.nowMs();
      challenge = await this.startChallenge(account, phone, target, to, loginId, login.ip);
    } catch (error) {
      // otp did not answer the start in time: its code may be out, so the claim is held until
      // otp's deadline is surely past. Any answered failure (a refusal, otp's or a store's 503)
      // sent nothing: the claim is given back and the client's retry may ask at once.
      const unanswered = startedAt !== undefined && unansweredSend(error, Date.now() - startedAt, timeoutMs);
      await (unanswered ? this.logins.holdClaim(claim, token, timeoutMs + 1_000) : this.logins.releaseClaim(claim, token)).catch(() => undefined);
      throw error;
    }
    // The sign-in's cooldown goes on doubling across its challenges (C9), from its codes so far.
    const sends = sentBefore > 0 ? afterStart(loginSends(login), sentBefore, askedAt, challenge) : undefined;
    const updated: PendingLogin = {
      ...login,
      factor: target,
      challengeId: challenge.id,
      challengePhoneId: target === 'email' ? null : (phone?.id ?? null),
      ...(from ? { earlierChallengeIds: [...(login.earlierChallengeIds ?? []), from] } : {}),
      sentBefore,
      ...sends,
    };
    if (!(await this.logins.replaceIf(loginId, updated, 'challengeId', from))) throw expired();
    return { loginId, challenge: this.challengeView(updated, withSends(challenge, sends)) };
  }

  /** The login's current challenge as otp has it; undefined once otp no longer knows it. */
  private currentChallenge(challengeId: string): Promise<ChallengeView | undefined> {
    return challengeIfKnown(this.otp, challengeId);
  }

  /**
   * Waits (at most while the claim is held) until the login left challenge `from` or the
   * claim was given back; false when it is still held at the end.
   */
  private async awaitMove(loginId: string, from: string | null, claim: string, claimMs: number) {
    const until = Date.now() + claimMs;
    while (Date.now() < until) {
      const login = await this.logins.get(loginId);
      if (!login || login.challengeId !== from) return true;
      if ((await this.logins.claimedFor(claim)) === 0) return true;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return false;
  }

  private async challenge(
    account: AccountEntity,
    input: SignInRequest,
    country: string | null,
    reason: PendingLogin['reason'],
    current: IssueGuard,
  ) {
    const [phones, otpFactors] = await Promise.all([
      phonesOf(this.db, account.id),
      this.otp.factors(account.id),
    ]);
    // Read again just before a code may go out: a reset completed since the password was checked
    // (it moves the credentials epoch) means this sign-in lost to it, and it sends nothing
    // (CredentialsChanged: 401). A reset committing after this read races the send itself; the
    // login keeps the epoch it read, so its code can never finish it (410).
    await current(await findAccount(this.db, account.id), this.db.manager);
    const phone = primaryPhone(phones);
    const factors = signinFactors(settingsOf(account), {
      hasVerifiedPhone: Boolean(phone),
      phoneTakesSms: phone ? acceptsChannel(phone.lineType, 'sms', this.policy()) : false,
      totp: otpFactors.totp,
      backupCodes: otpFactors.backupCodes,
      emailBackupAllowed: this.config.IDENTITY_EMAIL_BACKUP_FACTOR,
    });
    const factor = firstFactor(settingsOf(account), factors);
    if (!factor)
      throw new DomainError(
        'factor_not_ready',
        'Two-step is on but no factor of this account is usable; contact support.',
      );

    const loginId = randomUUID();
    let challenge: ChallengeView | null = null;
    if (factor === 'sms' || factor === 'voice' || factor === 'email') {
      const to = factor === 'email' ? account.email : phone!.e164;
      challenge = await this.startChallenge(account, phone, factor, to, loginId, input.device.ip);
    }
    const ttl = this.config.IDENTITY_LOGIN_TTL;
    const login: PendingLogin = {
      accountId: account.id,
      device: {
        id: input.device.id,
        ...(input.device.name ? { name: input.device.name } : {}),
        ...(input.device.userAgent ? { userAgent: input.device.userAgent } : {}),
      },
      ip: input.device.ip,
      country,
      reason,
      factors,
      factor,
      challengeId: challenge?.id ?? null,
      challengePhoneId: challenge && factor !== 'email' ? (phone?.id ?? null) : null,
      startedAt: this.clock.nowMs(),
      // The epoch read with the hash the password was checked against: a reset since ends the login.
      validAfter: credentialsEpoch(account.sessionsValidAfter),
      expiresAt: this.clock.nowMs() + ttl,
    };
    await this.logins.put(loginId, login, ttl);
    await this.db.transaction((m) =>
      this.outbox.add(m, signinChallengedV1, {
        accountId: account.id,
        loginId,
        device: { id: login.device.id, ...(login.device.name ? { name: login.device.name } : {}) },
        ip: login.ip,
        reason,
      }),
    );
    return {
      status: 'challenged' as const,
      loginId,
      challenge: this.challengeView(login, challenge),
    };
  }

  private startChallenge(
    account: AccountEntity,
    phone: PhoneEntity | undefined,
    channel: 'sms' | 'voice' | 'email',
    to: string,
    loginId: string,
    ip: string,
  ) {
    return this.otp.start({
      purpose: 'sign_in',
      channel,
      to,
      accountId: account.id,
      ...(channel !== 'email' && phone ? { phoneId: phone.id } : {}),
      ref: loginId,
      locale: account.locale,
      clientIp: ip,
      twoStep: true,
    });
  }

  private challengeView(login: PendingLogin, challenge: ChallengeView | null) {
    const alternatives = login.factors.filter((f) => f !== login.factor);
    if (!challenge) {
      return {
        id: null,
        channel: login.factor,
        to: login.factor === 'totp' ? 'authenticator app' : 'backup code',
        expiresAt: new Date(login.expiresAt).toISOString(),
        alternatives,
      };
    }
    return {
      id: challenge.id,
      channel: challenge.channel,
      to: challenge.to,
      expiresAt: challenge.expiresAt,
      resendAvailableAt: challenge.resendAvailableAt,
      alternatives,
    };
  }

  private async session(
    account: AccountEntity,
    device: SigninDevice,
    country: string | null,
    amr: string[],
    remember: boolean,
    guard: IssueGuard,
  ) {
    const issued = await this.issuer.issue(account, device, country, amr, remember, guard);
    return { status: 'signed_in' as const, ...issued };
  }

  private async pending(loginId: string): Promise<PendingLogin> {
    const login = /^[0-9a-f-]{36}$/i.test(loginId) ? await this.logins.get(loginId) : undefined;
    if (!login) throw expired();
    return login;
  }

  /**
   * Stores the password's hash at the configured cost in place of the one it was checked
   * against, unless that one was replaced meanwhile (a reset's new password is never
   * overwritten by the old one); answers the hash the account has as far as this sign-in
   * knows.
   */
  private async rehash(account: AccountEntity, password: string): Promise<string> {
    const passwordHash = await this.hasher.hash(password);
    const updated = await this.db
      .getRepository(AccountEntity)
      .update(
        { id: account.id, passwordHash: account.passwordHash },
        { passwordHash, updatedAt: this.clock.now() },
      );
    return updated.affected ? passwordHash : account.passwordHash;
  }

  private policy() {
    return {
      smsLineTypes: this.config.IDENTITY_SMS_LINE_TYPES,
      voiceLineTypes: this.config.IDENTITY_VOICE_LINE_TYPES,
    };
  }
}

/** The challenge as answered: its resendAvailableAt the sign-in's cooldown when the sign-in keeps one. */
function withSends(challenge: ChallengeView, sends: VerificationSends | undefined): ChallengeView {
  return sends ? withVerificationCooldown(challenge, sends) : challenge;
}

/** The sign-in's password was checked against credentials the account no longer has (a reset completed). */
class CredentialsChanged extends Error {
  constructor() {
    super('credentials changed since the password was checked');
  }
}

/** The device was remembered when read and no longer is (or moved) under the lock: a code is asked. */
class NoLongerRemembered extends Error {
  constructor(readonly standing: Exclude<DeviceStanding, 'remembered'>) {
    super('device no longer remembered');
  }
}

function invalidCredentials(): DomainError {
  return new DomainError('invalid_credentials', INVALID);
}

function expired(): DomainError {
  return new DomainError('code_expired', 'This sign-in has expired; sign in again.');
}

function numberGone(): DomainError {
  return new DomainError(
    'code_expired',
    'The code was sent to a number that is no longer on this account; sign in again.',
  );
}

function unavailable(factor: string, factors: readonly string[]): DomainError {
  return new DomainError('validation_failed', `${factor} is not available for this sign-in.`, {
    errors: [
      { field: 'channel', code: 'not_available', message: `Choose one of: ${factors.join(', ')}.` },
    ],
    alternatives: factors,
  });
}
