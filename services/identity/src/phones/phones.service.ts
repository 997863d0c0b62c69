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
import type { Redis } from 'ioredis';
import { DataSource, type EntityManager, Not } from 'typeorm';
import { AccountEntity } from '../accounts/account.entity';
import { findAccount, isUuid, lockAccount, PHONE_COLUMNS, phoneFromRow, type PhoneRow, phonesOf } from '../accounts/account.repository';
import { isUniqueViolation } from '../accounts/accounts.service';
import type { IdentityConfig } from '../config/identity.config';
import type { EventOutbox } from '../events/event-outbox';
import type { OtpGateway } from '../otp/otp.gateway';
import { challengeIfKnown, isDomain, unansweredSend, unknownAsExpired, verificationView } from '../otp/otp-errors';
import { type AlertTarget, queueAlert } from '../security/security-alerts';
import { keyPart } from '../security/signin-throttle';
import { reported } from '../sessions/reported-challenge';
import { resendCooldown } from '../sessions/signin-resend';
import { JsonStore } from '../shared/json-store';
import { EVENT_OUTBOX, IDENTITY_CONFIG, IDENTITY_REDIS, OTP_GATEWAY } from '../tokens';
import { afterPhoneRemoved, removalNeedsStepUp, sameSettings } from '../two-step/two-step.policy';
import { settingsOf, type StepUpProof, stepUpRequired, TwoStepService } from '../two-step/two-step.service';
import { ChallengeRefs } from './challenge-ref';
import { PhoneEntity } from './phone.entity';
import { acceptsChannel, type ParsedPhone, parsePhone, type PhoneChannel, type PhonePolicy } from './phone-number';
import {
  afterResend,
  afterStart,
  longerRefusal,
  NUMBER_SENDS_KEPT_MS,
  type NumberSends,
  sendsBeforeNext,
  type VerificationSends,
  withRowChallenge,
  withVerificationCooldown,
} from './verification-sends';

export const MAX_PHONES = 2;

export interface NumberInput {
  number: string;
  country?: string;
  channel?: PhoneChannel;
}

@Injectable()
export class PhonesService {
  private readonly policy: PhonePolicy;
  /** Each verification's sends across its challenges, and the claim of the one request sending its next code. */
  private readonly sends: JsonStore<VerificationSends>;
  /** A number's send history on an account once a pending row left it (removed, or corrected away). */
  private readonly numberSends: JsonStore<NumberSends>;
  /**
   * How long a send's claim is held: past the longest path under it (up to six otp calls: the
   * record's and the row's challenges read twice, a resend, a start), each within its deadline.
   */
  private readonly claimMs: number;
  /** otp's deadline a call (IDENTITY_OTP_TIMEOUT). */
  private readonly otpTimeoutMs: number;
  /** What a number's codes are bound to (C6), the number only as a keyed hash (L1). */
  private readonly refs: ChallengeRefs;
  /** Failures of otp sends that came without an answer (a code may be out): their claim is held a little longer. */
  private readonly unanswered = new WeakSet<object>();

  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    @Inject(IDENTITY_CONFIG) config: IdentityConfig,
    @Inject(OTP_GATEWAY) private readonly otp: OtpGateway,
    @Inject(EVENT_OUTBOX) private readonly outbox: EventOutbox,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
    private readonly twoStep: TwoStepService,
    @Inject(IDENTITY_REDIS) redis: Redis,
  ) {
    this.policy = { smsLineTypes: config.IDENTITY_SMS_LINE_TYPES, voiceLineTypes: config.IDENTITY_VOICE_LINE_TYPES };
    this.refs = new ChallengeRefs(config.JWT_KEYS, config.JWT_ACTIVE_KEY_ID);
    this.sends = new JsonStore(redis, 'phone-sends');
    this.numberSends = new JsonStore(redis, 'phone-number-sends');
    this.otpTimeoutMs = config.IDENTITY_OTP_TIMEOUT;
    this.claimMs = 6 * config.IDENTITY_OTP_TIMEOUT + 1_000;
  }

  /**
   * Adds a number (pending) and sends its verification code. A number a pending row of the
   * account left a little earlier (removed, or corrected away) is bounded by what was sent
   * to it (C9): inside its cooldown 429 resend_cooldown, after 5 codes rate_limited; the new
   * row's verification goes on from there. Its send is claimed before the row exists (every
   * add's, a first one's too), so a concurrent add of the number that finds the row waits for
   * this code and answers as a resend of it (429 resend_cooldown inside its cooldown): one code
   * goes out, on the challenge the row keeps.
   */
  add(accountId: string, input: NumberInput, clientIp?: string): Promise<PhoneAnswer> {
    return this.addOnce(accountId, input, clientIp, true);
  }

  private async addOnce(accountId: string, input: NumberInput, clientIp: string | undefined, again: boolean): Promise<PhoneAnswer> {
    const channel = input.channel ?? 'sms';
    const parsed = parsePhone(input.number, input.country, channel, this.policy);
    const phoneId = randomUUID();
    // The add it found sending sent nothing and took its row away, or the correction it waited
    // for is done: this one goes on as a first add (once).
    const addAgain = again ? () => this.addOnce(accountId, input, clientIp, false) : undefined;
    return this.exclusiveSend(phoneId, undefined, () => this.addNumber(accountId, phoneId, parsed, channel, clientIp, addAgain));
  }

  private async addNumber(
    accountId: string,
    phoneId: string,
    parsed: ParsedPhone,
    channel: PhoneChannel,
    clientIp: string | undefined,
    addAgain: (() => Promise<PhoneAnswer>) | undefined,
  ): Promise<PhoneAnswer> {
    // The number is recorded before its code goes out: a database that fails (pool exhausted on
    // a sale day) must not leave a customer with a code for a number we never recorded. If the
    // code cannot be sent, the row goes again; if the last step fails, the row has no challenge
    // yet and adding the number again sends a fresh code (restart). The checks run under the
    // account's lock, in the transaction that records the number.
    const recorded = await this.db.transaction(async (m) => {
      const account = await lockAccount(m, accountId);
      // What the account sent to the number before a pending row left it, read under the lock: a
      // correction moving a row away from it keeps that before it lets go of the lock (C9).
      const left = await this.numberSends.get(numberKey(accountId, parsed.e164));
      // That correction's code is still going out: if it fails, its row goes back to this number.
      if (left?.leaving && (await this.sends.claimedFor(`send:${left.leaving}`)) > 0) return { account, waitFor: left.leaving };
      // Checks and insert in one statement; only when it refuses are the numbers read to say why.
      if (await insertNewNumber(m, this.pendingRow(phoneId, accountId, parsed, channel, null, null))) return { account, left };
      const phones = await phonesOf(m, accountId);
      const same = phones.find((p) => p.e164 === parsed.e164 && p.replacesPhoneId === null);
      if (same?.status === 'verified') throw new DomainError('phone_in_use', 'This number is already verified on this account.');
      if (same) return { account, same };
      checkLimit(phones);
      throw verifiedElsewhere();
    });
    const { account } = recorded;
    if (recorded.waitFor) {
      // Answered as the state is once that correction is done (a resend of its row if it came back).
      const claim = `send:${recorded.waitFor}`;
      if (addAgain && (await this.claimReleased(claim))) return addAgain();
      const waitMs = Math.max(1_000, await this.sends.claimedFor(claim));
      throw resendCooldown(waitMs, this.clock.nowMs() + waitMs);
    }
    const left = recorded.left;
    // Already pending here: a fresh code (outside the lock: the otp call may take a while), as a
    // resend. While a concurrent add sends the row's first code, this waits for it first.
    if (recorded.same) {
      const same = recorded.same;
      return this.restart(account, same, channel, clientIp, () => this.restart(account, same, channel, clientIp)).catch((error: unknown) => {
        // Gone meanwhile: the add that recorded it could not send its code.
        if (addAgain && isDomain(error, 'not_found')) return addAgain();
        throw error;
      });
    }
    let challenge: ChallengeView;
    let sends: VerificationSends | undefined;
    try {
      if (left) ({ challenge, sends } = await this.startNext(account, phoneId, null, phoneId, parsed.e164, channel, clientIp, left));
      else challenge = await this.startVerification(account, phoneId, parsed.e164, channel, clientIp);
    } catch (error) {
      await this.db
        .query(`DELETE FROM phones WHERE id = $1 AND status = 'pending'`, [phoneId])
        .catch((e: unknown) => this.logger.warn({ err: (e as Error).message, phoneId }, 'pending number not removed after a failed send'));
      throw error;
    }
    await this.db.transaction(async (m) => {
      // Only while the row still holds the number the code went to (a change may have corrected it meanwhile).
      await recordChallenge(m, phoneId, parsed.e164, challenge.id);
      await this.outbox.add(m, phoneAddedV1, { accountId, phoneId, e164: parsed.e164, purpose: 'add' });
    });
    return { phoneId, status: 'pending' as const, verification: verificationView(sends ? withVerificationCooldown(challenge, sends) : challenge) };
  }

  /**
   * Changes a number: the new one is pending until verified; the old one keeps working until then.
   * A PUT sends a code, so it is bounded like a resend (C9) by the verification it goes on with:
   * the pending number's own, or for a verified number its pending replacement's. The same number
   * again is a resend of its challenge; another number starts a new challenge, which keeps the
   * verification's cooldown and send count. Of concurrent sends of one verification, one sends.
   * Changing a verified number needs a fresh step-up (S8; 403 step_up_required without one),
   * taken before its code is sent and given back when the change is refused. So does pointing
   * a verified number's pending replacement at another number (once verified it replaces the
   * verified number); correcting an added number still pending, or a replacement to its own
   * number again (a resend), needs none.
   */
  async change(accountId: string, phoneId: string, input: NumberInput & StepUpProof, clientIp?: string): Promise<PhoneAnswer> {
    const phone = await this.findPhone(this.db.manager, accountId, phoneId);
    // A number that is no number is refused before the step-up is taken.
    const parsed = parsePhone(input.number, input.country, input.channel ?? (phone.channel === 'voice' ? 'voice' : 'sms'), this.policy);
    if (!changeNeedsStepUp(phone, parsed.e164)) return this.changeOnce(accountId, phoneId, input, clientIp, true, false);
    return this.twoStep.withStepUp(accountId, input, () => this.changeOnce(accountId, phoneId, input, clientIp, true, true));
  }

  private async changeOnce(
    accountId: string,
    phoneId: string,
    input: NumberInput,
    clientIp: string | undefined,
    again: boolean,
    steppedUp: boolean,
  ): Promise<PhoneAnswer> {
    const account = await findAccount(this.db, accountId);
    const phone = await this.findPhone(this.db.manager, accountId, phoneId);
    const channel = input.channel ?? (phone.channel === 'voice' ? 'voice' : 'sms');
    const parsed = parsePhone(input.number, input.country, channel, this.policy);
    const retry = again ? () => this.changeOnce(accountId, phoneId, input, clientIp, false, steppedUp) : undefined;
    return this.exclusiveSend(verificationOf(phone), retry, async () => {
      // Read under the claim: what a send that held it before did is seen here.
      const phones = await phonesOf(this.db, accountId);
      const current = phones.find((p) => p.id === phoneId);
      if (!current) throw phoneNotFound();
      // Verified since it was read as pending: its change needs a step-up now (S8).
      if (current.status === 'verified' && !steppedUp) throw stepUpRequired();
      if (phones.some((p) => p.status === 'verified' && p.e164 === parsed.e164)) {
        throw new DomainError('phone_in_use', 'This number is already verified on this account.');
      }
      await this.checkNotVerifiedElsewhere(this.db.manager, parsed.e164, accountId);
      // A verified number's change goes on with its pending replacement (one per number).
      const pending = current.status === 'pending' ? current : phones.find((p) => p.status === 'pending' && p.replacesPhoneId === current.id);
      if (pending?.e164 === parsed.e164) return this.resendNow(account, pending, channel, clientIp);
      // A replacement pointed at another number since it was read: that needs a step-up now (S8).
      if (pending && changeNeedsStepUp(pending, parsed.e164) && !steppedUp) throw stepUpRequired();
      if (pending) return this.correct(account, pending, parsed, channel, clientIp);
      return this.replace(account, current, parsed, channel, clientIp);
    });
  }

  /**
   * A pending number corrected to another: a new challenge to it, within the verification's limits.
   * The row takes the new number (without a challenge) under the account's lock BEFORE the code
   * is sent, the lock a verification takes to mark the number: a number verified before that is
   * refused there (409 conflict), as is a new number verified on another account meanwhile (409
   * phone_in_use), and nothing is sent; one whose verification comes after finds
   * the row on another number (410, as a code of a number the row no longer has). The old
   * number's send history is kept in that step (C9: an add of it meanwhile, or after a crash
   * there, is bounded by it; an add waits while this code goes out). A send that fails puts the
   * old number and its challenge back, unless the account has it on another row by now.
   */
  private async correct(account: Recipient, phone: PhoneEntity, parsed: ParsedPhone, channel: PhoneChannel, clientIp?: string): Promise<PhoneAnswer> {
    await this.db.transaction(async (m) => {
      await lockAccount(m, account.id);
      const current = await this.findPhone(m, account.id, phone.id);
      // Verified (or changed) meanwhile: correcting it now would make the new number verified without its code.
      if (current.status !== 'pending' || current.e164 !== phone.e164 || current.challengeId !== phone.challengeId) throw numberChanged();
      // Again under the lock (the check before it ran without): a new number verified on another
      // account meanwhile refuses the correction (409 phone_in_use) before any code goes to it.
      const moved = await updateCount(
        m,
        `UPDATE phones SET e164 = $3, country = $4, line_type = $5, channel = $6, challenge_id = NULL
         WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM phones WHERE e164 = $3 AND status = 'verified' AND account_id <> $2)`,
        [phone.id, account.id, parsed.e164, parsed.country, parsed.lineType, channel],
      );
      if (moved === 0) throw verifiedElsewhere();
      // The number left keeps what was sent to it now, before the code goes out (an add of it
      // meanwhile, or after a crash here, is bounded by it: C9), naming this verification: an add
      // of it waits while this code goes out (a failed send puts the row back on it).
      const verification = verificationOf(phone);
      await this.keepNumberSends(account.id, phone.e164, { record: await this.sends.get(verification), challengeId: phone.challengeId, leaving: verification });
    });
    let started: { challenge: ChallengeView; sends: VerificationSends };
    try {
      started = await this.startNext(account, verificationOf(phone), phone.challengeId, phone.id, parsed.e164, channel, clientIp);
    } catch (error) {
      // Nothing sent (or nothing answered): the row goes back to the number it had, with its code.
      await this.putBack(account.id, phone, parsed.e164).catch((e: unknown) =>
        this.logger.warn({ err: (e as Error).message, phoneId: phone.id }, 'corrected number not put back after a failed send'),
      );
      throw error;
    }
    const { challenge, sends } = started;
    await this.db.transaction(async (m) => {
      // Only while the row still holds the number the code went to.
      await recordChallenge(m, phone.id, parsed.e164, challenge.id);
      // The number left keeps the verification's history: adding it back is no fresh start.
      await this.keepNumberSends(account.id, phone.e164, { record: sends, challengeId: null });
      await this.outbox.add(m, phoneAddedV1, {
        accountId: account.id,
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
      verification: verificationView(withVerificationCooldown(challenge, sends)),
    };
  }

  /**
   * Puts a corrected row whose code was not sent back on the number it had, with its challenge,
   * under the account's lock; unless the account has that number on another row by now (added
   * again while the code was going out): a second row of one number would be verified on
   * "another account" and take a phone slot, so the corrected row goes instead.
   */
  private async putBack(accountId: string, phone: PhoneEntity, correctedE164: string): Promise<void> {
    const removed = await this.db.transaction(async (m) => {
      await lockAccount(m, accountId);
      const back = await updateCount(
        m,
        `UPDATE phones SET e164 = $3, country = $4, line_type = $5, channel = $6, challenge_id = $7
         WHERE id = $1 AND e164 = $2 AND challenge_id IS NULL AND status = 'pending'
           AND NOT EXISTS (SELECT 1 FROM phones WHERE account_id = $8 AND e164 = $3 AND id <> $1)`,
        [phone.id, correctedE164, phone.e164, phone.country, phone.lineType, phone.channel, phone.challengeId, accountId],
      );
      if (back > 0) return 0;
      return updateCount(m, `DELETE FROM phones WHERE id = $1 AND e164 = $2 AND challenge_id IS NULL AND status = 'pending'`, [phone.id, correctedE164]);
    });
    if (removed > 0) this.logger.info({ accountId, phoneId: phone.id }, 'corrected number removed after a failed send: its old number is on another row of the account');
  }

  /**
   * A verified number changed (no change pending): a new pending number that replaces it once
   * verified. The pending row is recorded (without a challenge) under the account's lock BEFORE
   * the code is sent, with its checks (the number still verified here, the new one verified on
   * no other account): a change they refuse sends nothing. A send that fails takes the row away.
   */
  private async replace(account: Recipient, phone: PhoneEntity, parsed: ParsedPhone, channel: PhoneChannel, clientIp?: string): Promise<PhoneAnswer> {
    const newId = randomUUID();
    await this.db.transaction(async (m) => {
      await lockAccount(m, account.id);
      const current = await this.findPhone(m, account.id, phone.id);
      if (current.status !== 'verified') throw new DomainError('phone_not_verified', NUMBER_CHANGED);
      // One pending replacement per number: a newer change supersedes an older one.
      await m.getRepository(PhoneEntity).delete({ accountId: account.id, replacesPhoneId: phone.id, status: 'pending' });
      await this.insertPending(m, this.pendingRow(newId, account.id, parsed, channel, null, phone.id));
    });
    let started: { challenge: ChallengeView; sends: VerificationSends };
    try {
      // An earlier change of this number that was removed still bounds this one while its challenge runs.
      started = await this.startNext(account, phone.id, null, newId, parsed.e164, channel, clientIp);
    } catch (error) {
      await this.db
        .query(`DELETE FROM phones WHERE id = $1 AND status = 'pending' AND challenge_id IS NULL`, [newId])
        .catch((e: unknown) => this.logger.warn({ err: (e as Error).message, phoneId: newId }, 'pending replacement not removed after a failed send'));
      throw error;
    }
    const { challenge, sends } = started;
    await this.db.transaction(async (m) => {
      // Only while the row is still there with the number the code went to.
      await recordChallenge(m, newId, parsed.e164, challenge.id);
      await this.outbox.add(m, phoneAddedV1, { accountId: account.id, phoneId: newId, e164: parsed.e164, purpose: 'change', replacesPhoneId: phone.id });
    });
    return {
      phoneId: newId,
      status: 'pending' as const,
      replacesPhoneId: phone.id,
      verification: verificationView(withVerificationCooldown(challenge, sends)),
    };
  }

  /**
   * Confirms a number with its code. The code must be of a challenge sent to the
   * number the row holds (the number is in the challenge's ref), and the row must
   * still hold that number when it is marked: a change committed while the code was
   * being checked leaves the new number pending. Of two accounts racing for the same
   * number, exactly one wins.
   */
  async verify(accountId: string, phoneId: string, code: string) {
    const { phone } = await findPhoneOfAccount(this.db, accountId, phoneId);
    if (phone.status === 'verified') return { phoneId, status: 'verified' as const, primary: phone.primary };
    if (!phone.challengeId) throw codeExpired();
    try {
      await unknownAsExpired(this.checkCode(phone.challengeId, phone, code));
    } catch (error) {
      // A code the number's owner reported ("I didn't ask for this") ends the verification.
      if (isDomain(error, 'code_expired')) await this.endIfReported(accountId, phone);
      throw error;
    }
    try {
      return await this.db.transaction((m) => this.markVerified(m, accountId, phoneId, phone.e164));
    } catch (error) {
      if (isUniqueViolation(error)) throw new DomainError('phone_in_use', 'This number was verified on another account.');
      throw error;
    }
  }

  /** Marks the number verified, if the row (read under the account's lock) still holds `checkedE164`, the number the code went to. */
  private async markVerified(m: EntityManager, accountId: string, phoneId: string, checkedE164: string) {
    const account = await lockAccount(m, accountId);
    // All the account's numbers (two or three rows) in one read: this one, the one it replaces, the primary.
    const phones = await phonesOf(m, accountId);
    const phone = phones.find((p) => p.id === phoneId);
    if (!phone) throw phoneNotFound();
    if (phone.e164 !== checkedE164) {
      throw new DomainError('code_expired', 'This code was sent to a number this phone no longer has; use the code sent to its current number.');
    }
    if (phone.status === 'verified') return { phoneId, status: 'verified' as const, primary: phone.primary };
    const now = this.clock.now();
    const target = { accountId, email: account.email, locale: account.locale };
    const replaced = phone.replacesPhoneId ? phones.find((p) => p.id === phone.replacesPhoneId) : undefined;

    if (replaced) {
      await m.query('DELETE FROM phones WHERE id = $1', [replaced.id]);
      await markPhoneVerified(m, phone.id, now, replaced.primary);
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
      await this.tellNumberChanged(m, target, replaced, phone, phone.id);
      return { phoneId, status: 'verified' as const, primary: replaced.primary, replacedPhoneId: replaced.id };
    }

    const primary = !phones.some((p) => p.primary && p.status === 'verified');
    await markPhoneVerified(m, phone.id, now, primary);
    await this.outbox.add(m, phoneVerifiedV1, { accountId, phoneId, e164: phone.e164, primary });
    await queueAlert(this.outbox, m, target, 'security.phone_added', { number: maskPhone(phone.e164) }, phone.id);
    return { phoneId, status: 'verified' as const, primary };
  }

  /** Sends a fresh code, optionally switching SMS and voice. */
  resend(accountId: string, phoneId: string, channel: PhoneChannel | undefined, clientIp?: string) {
    return this.resendOnce(accountId, phoneId, channel, clientIp, true);
  }

  private async resendOnce(accountId: string, phoneId: string, channel: PhoneChannel | undefined, clientIp: string | undefined, again: boolean): Promise<PhoneAnswer> {
    const { account, phone } = await findPhoneOfAccount(this.db, accountId, phoneId);
    if (phone.status === 'verified') throw new DomainError('conflict', 'This number is already verified.');
    const retry = again ? () => this.resendOnce(accountId, phoneId, channel, clientIp, false) : undefined;
    return this.restart(account, phone, channel ?? phone.channel, clientIp, retry);
  }

  /** Resends the pending number's code (or starts a new challenge when the old one is gone), as the one request sending its verification's next code. */
  private restart(account: Recipient, phone: PhoneEntity, channel: PhoneChannel, clientIp?: string, retry?: () => Promise<PhoneAnswer>): Promise<PhoneAnswer> {
    return this.exclusiveSend(verificationOf(phone), retry, async () => {
      const current = await this.findPhone(this.db.manager, account.id, phone.id);
      // Verified or corrected since it was read: a resend for the number it had is no longer this phone's.
      if (current.status !== 'pending' || current.e164 !== phone.e164) throw numberChanged();
      return this.resendNow(account, current, channel, clientIp);
    });
  }

  /**
   * Resends the pending number's code, or starts a new challenge when the old one is gone.
   * otp bounds its challenge's own resends; after a PUT started it, the verification's
   * earlier codes count too (its cooldown goes on doubling, its sends stay within 5).
   * Run while holding the verification's send claim.
   */
  private async resendNow(account: Recipient, phone: PhoneEntity, channel: PhoneChannel, clientIp?: string): Promise<PhoneAnswer> {
    if (!acceptsChannel(phone.lineType, channel, this.policy)) {
      throw new DomainError('invalid_phone_number', `This number cannot take ${channel === 'sms' ? 'text messages' : 'voice calls'}.`, {
        lineType: phone.lineType,
      });
    }
    const verification = verificationOf(phone);
    // Without a record, otp's own limits of the challenge are the whole story.
    const stored = await this.sends.get(verification);
    const { record, latest, sent: sentSoFar } = stored ? await this.bounds(stored, phone.challengeId) : { record: undefined, latest: undefined, sent: 0 };
    let challenge: ChallengeView | undefined;
    let sends: VerificationSends | undefined;
    if (phone.challengeId) {
      const askedAt = this.clock.nowMs();
      try {
        challenge = await this.sending(this.otp.resend({ challengeId: phone.challengeId, channel, ...(clientIp ? { clientIp } : {}) }));
        // The verification's record goes on only while its latest challenge did (else otp's own limits are the whole story).
        if (record && sentSoFar > 0) sends = afterResend(record, latest?.sends ?? 0, askedAt, challenge);
      } catch (error) {
        if (!isDomain(error, 'not_found', 'code_expired')) throw error;
        // Ended: by a report of its code the verification ends too (no new code); else a new challenge.
        await this.endIfReported(account.id, phone);
      }
    }
    if (challenge) {
      if (sends) await this.keepSends(verification, sends, challenge);
      else if (record) await this.sends.delete(verification).catch(() => undefined);
    } else {
      ({ challenge, sends } = await this.startNext(account, verification, phone.challengeId, phone.id, phone.e164, channel, clientIp));
    }
    // Only if the row is still pending with the number this resend was for: a change
    // committed meanwhile has its own challenge, which an older one must not replace.
    const updated = await updateCount(this.db, `UPDATE phones SET challenge_id = $2, channel = $3 WHERE id = $1 AND e164 = $4 AND status = 'pending'`, [
      phone.id,
      challenge.id,
      channel,
      phone.e164,
    ]);
    if (updated === 0) throw numberChanged();
    return {
      phoneId: phone.id,
      status: 'pending' as const,
      ...(phone.replacesPhoneId ? { replacesPhoneId: phone.replacesPhoneId } : {}),
      verification: verificationView(sends ? withVerificationCooldown(challenge, sends) : challenge),
    };
  }

  /**
   * Starts a new challenge for a verification (to `e164`, for the row `phoneId`), within the
   * limits of a resend of its latest challenge (`rowChallengeId` when identity kept none):
   * 429 resend_cooldown inside the cooldown, rate_limited after 5 codes, too_many_attempts
   * while locked; and within those of what the account sent to `e164` before a pending row
   * left it (`left`, read when not given). The verification's record goes on from there.
   */
  private async startNext(
    account: Recipient,
    verification: string,
    rowChallengeId: string | null,
    phoneId: string,
    e164: string,
    channel: PhoneChannel,
    clientIp?: string,
    left?: NumberSends,
  ): Promise<{ challenge: ChallengeView; sends: VerificationSends }> {
    const [own, number] = await both(
      this.sends.get(verification).then((record) => this.bounds(record, rowChallengeId)),
      (left ? Promise.resolve(left) : this.numberSends.get(numberKey(account.id, e164))).then((kept) => (kept ? this.bounds(kept.record, kept.challengeId) : undefined)),
    );
    const record = own.record ?? number?.record;
    const sentBefore = Math.max(own.sent, number?.sent ?? 0);
    const askedAt = this.clock.nowMs();
    const challenge = await this.startVerification(account, phoneId, e164, channel, clientIp);
    const sends = afterStart(record, sentBefore, askedAt, challenge);
    await this.keepSends(verification, sends, challenge);
    return { challenge, sends };
  }

  /**
   * The limits of the verification's next send (throws the refusal), by its record (as read) and its
   * latest challenge (`rowChallengeId` when identity kept none). When the row holds another
   * challenge than the record names (a send whose record was not kept), that one bounds it
   * too, and the record goes on from it. Answers the codes sent so far.
   */
  private async bounds(
    record: VerificationSends | undefined,
    rowChallengeId: string | null,
  ): Promise<{ record: VerificationSends | undefined; latest: ChallengeView | undefined; sent: number }> {
    const latestId = record?.challengeId ?? rowChallengeId;
    const latest = latestId ? await this.challengeState(latestId) : undefined;
    const sent = sendsBeforeNext(latest, record, this.clock.nowMs());
    if (!record || !rowChallengeId || rowChallengeId === record.challengeId) return { record, latest, sent };
    const row = await this.challengeState(rowChallengeId);
    const nowMs = this.clock.nowMs();
    const stricter = withRowChallenge(record, latest, row, nowMs);
    if (!stricter || !row) return { record, latest, sent };
    return { record: stricter.record, latest: row, sent: Math.max(sent, sendsBeforeNext(row, stricter.record, nowMs)) };
  }

  /** An otp call that sends a code; its failure without an answer is marked (a code may be out). */
  private async sending<T>(call: Promise<T>): Promise<T> {
    const startedAt = Date.now();
    try {
      return await call;
    } catch (error) {
      if (unansweredSend(error, Date.now() - startedAt, this.otpTimeoutMs) && typeof error === 'object' && error !== null) this.unanswered.add(error);
      throw error;
    }
  }

  /** The challenge as otp has it now; undefined once otp no longer knows it. */
  private challengeState(challengeId: string): Promise<ChallengeView | undefined> {
    return challengeIfKnown(this.otp, challengeId);
  }

  /** Keeps the verification's record while its challenge may still bound a send. A code is out already: a failure here is logged, not answered. */
  private async keepSends(verification: string, sends: VerificationSends, challenge: Pick<ChallengeView, 'expiresAt'>): Promise<void> {
    const ttlMs = Math.max(1_000, Date.parse(challenge.expiresAt) - this.clock.nowMs()) + 60_000;
    await this.sends
      .put(verification, sends, ttlMs)
      .catch((e: unknown) => this.logger.warn({ err: (e as Error).message, verification }, 'verification sends not kept'));
  }

  /** Keeps a number's send history on the account once a pending row left it (nothing when nothing was sent). */
  private async keepNumberSends(
    accountId: string,
    e164: string,
    kept: { record: VerificationSends | undefined; challengeId: string | null; leaving?: string },
  ): Promise<void> {
    if (!kept.record && !kept.challengeId && !kept.leaving) return;
    await this.numberSends.put(
      numberKey(accountId, e164),
      { ...(kept.record ? { record: kept.record } : {}), challengeId: kept.challengeId, ...(kept.leaving ? { leaving: kept.leaving } : {}) },
      NUMBER_SENDS_KEPT_MS,
    );
  }

  /**
   * Runs `send` as the one request sending the verification's next code. A request that finds
   * another sending waits for it and then (`retry`) asks again, answered as the state is then
   * (429 inside the new cooldown); without `retry`, or if it waits in vain, 429 resend_cooldown.
   */
  private async exclusiveSend<T>(verification: string, retry: (() => Promise<T>) | undefined, send: () => Promise<T>): Promise<T> {
    const claim = `send:${verification}`;
    const token = await this.sends.claim(claim, this.claimMs);
    if (!token) {
      if (retry && (await this.claimReleased(claim))) return retry();
      const waitMs = Math.max(1_000, await this.sends.claimedFor(claim));
      throw resendCooldown(waitMs, this.clock.nowMs() + waitMs);
    }
    try {
      const answer = await send();
      await this.sends.releaseClaim(claim, token).catch(() => undefined);
      return answer;
    } catch (error) {
      // otp did not answer a send in time: its code may be out (otp may still be at it), so the
      // claim is held until otp's deadline is surely past. Any answered failure (a refusal,
      // otp's or a store's 503) gives it back: the client's retry may ask at once. A code that
      // went out before a later step failed is bounded by the verification's record and row.
      const held = typeof error === 'object' && error !== null && this.unanswered.has(error);
      await (held ? this.sends.holdClaim(claim, token, this.otpTimeoutMs + 1_000) : this.sends.releaseClaim(claim, token)).catch(() => undefined);
      throw error;
    }
  }

  /** Waits, at most while a claim can be held, until it is given back or lapses; false if it is still held then. */
  private async claimReleased(claim: string): Promise<boolean> {
    const until = Date.now() + this.claimMs;
    while (Date.now() < until) {
      if ((await this.sends.claimedFor(claim)) === 0) return true;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return false;
  }

  /**
   * Makes a verified number primary. The primary takes the codes (phone two-step, step-ups,
   * password resets), so making another number primary while one is needs a fresh step-up (S8:
   * 403 step_up_required without one); the e-mail and the old primary number are told.
   */
  async makePrimary(accountId: string, phoneId: string, proof: StepUpProof = {}) {
    const phones = await phonesOf(this.db, accountId);
    const phone = phones.find((p) => p.id === phoneId);
    if (!phone) throw phoneNotFound();
    const switching = phone.status === 'verified' && !phone.primary && phones.some((p) => p.primary);
    if (!switching) return this.switchPrimary(accountId, phoneId, false);
    return this.twoStep.withStepUp(accountId, proof, () => this.switchPrimary(accountId, phoneId, true));
  }

  private async switchPrimary(accountId: string, phoneId: string, steppedUp: boolean) {
    return this.db.transaction(async (m) => {
      const account = await lockAccount(m, accountId);
      const repo = m.getRepository(PhoneEntity);
      const phones = await phonesOf(m, accountId);
      const phone = phones.find((p) => p.id === phoneId);
      if (!phone) throw phoneNotFound();
      if (phone.status !== 'verified') throw new DomainError('phone_not_verified', 'Only a verified number can be primary.');
      const old = phones.find((p) => p.primary);
      if (!phone.primary) {
        // Again under the lock: another number may have become primary meanwhile.
        if (old && !steppedUp) throw stepUpRequired();
        await repo.update({ accountId, primary: true }, { primary: false });
        await repo.update({ id: phone.id }, { primary: true });
        await this.outbox.add(m, phonePrimaryChangedV1, { accountId, phoneId, e164: phone.e164, primary: true });
        const target = { accountId, email: account.email, locale: account.locale };
        if (old) await this.tellNumberChanged(m, target, old, phone, `${phone.id}:primary:${this.clock.nowMs()}`);
      }
      return { phoneId, status: 'verified' as const, primary: true };
    });
  }

  /** Tells the account's e-mail and the old number that the account's number moved from `old` to `now` (S8), masked. */
  private async tellNumberChanged(m: EntityManager, target: AlertTarget, old: PhoneEntity, now: Pick<PhoneEntity, 'e164'>, ref: string): Promise<void> {
    await queueAlert(this.outbox, m, target, 'security.phone_changed', numberChangedVars(old, now), ref);
    await this.tellOldNumber(m, target, old, now, ref);
  }

  /** Tells the old number that the account's number moved to `now` (S8): by SMS, or by voice when it cannot take SMS. */
  private async tellOldNumber(m: EntityManager, target: AlertTarget, old: PhoneEntity, now: Pick<PhoneEntity, 'e164'>, ref: string): Promise<void> {
    await this.outbox.add(m, notificationRequestedV1, {
      messageId: randomUUID(),
      priority: 'critical',
      channel: old.channel === 'voice' && !acceptsChannel(old.lineType, 'sms', this.policy) ? 'voice' : 'sms',
      to: old.e164,
      accountId: target.accountId,
      template: 'security.phone_changed',
      locale: target.locale,
      variables: numberChangedVars(old, now),
      dedupeKey: `identity:security.phone_changed:sms:${ref}`,
      origin: { service: 'identity', ref },
    });
  }

  /**
   * Deregisters a number. A verified primary hands over to the other verified number; with no
   * verified number left, phone two-step is turned off (a phone backup dropped). Removing the
   * verified primary (the codes of step-ups, password resets and phone two-step go there:
   * whoever takes over, or none, whatever two-step is), and any removal that changes two-step,
   * needs a fresh step-up (S8): 403 step_up_required without one. A pending number, and another
   * verified number whose removal changes no setting, go without. The account's e-mail is told;
   * a primary that hands over is told by SMS too.
   */
  async remove(accountId: string, phoneId: string, proof: StepUpProof = {}): Promise<void> {
    // The step-up (its code, if given, checked by the otp service) before the account's lock.
    if (await this.removalNeedsStepUp(accountId, phoneId)) await this.twoStep.withStepUp(accountId, proof, () => this.removeClaimed(accountId, phoneId, true, true));
    else await this.removeClaimed(accountId, phoneId, false, true);
  }

  /**
   * Removes a number as the one request sending its verification's next code (the send claim an
   * add, a change or a resend of it holds while its code goes out): one whose code is out already
   * finishes first and is not refused after its send (409 with a code out), then the number goes.
   */
  private async removeClaimed(accountId: string, phoneId: string, steppedUp: boolean, again: boolean): Promise<void> {
    const phone = await this.findPhone(this.db.manager, accountId, phoneId);
    const retry = again ? () => this.removeClaimed(accountId, phoneId, steppedUp, false) : undefined;
    await this.exclusiveSend(verificationOf(phone), retry, () => this.removeNow(accountId, phoneId, steppedUp));
  }

  private async removeNow(accountId: string, phoneId: string, steppedUp: boolean): Promise<void> {
    await this.db.transaction(async (m) => {
      const account = await lockAccount(m, accountId);
      const repo = m.getRepository(PhoneEntity);
      const phone = await this.findPhone(m, accountId, phoneId);
      const left =
        phone.status === 'verified'
          ? await repo.find({ where: { accountId, status: 'verified', id: Not(phone.id) }, order: { verifiedAt: 'ASC' } })
          : [];
      const current = settingsOf(account);
      // Again under the lock: a number removed meanwhile may have left this one the last (and primary).
      if (!steppedUp && removalNeedsStepUp(current, { verified: phone.status === 'verified', primary: phone.primary }, left.length)) throw stepUpRequired();
      // The pending numbers removed (this one, or its pending replacement) keep what was sent to
      // them, before the rows go (a store that fails refuses the removal: R1).
      const pending = phone.status === 'pending' ? [phone] : await repo.find({ where: { accountId, replacesPhoneId: phone.id } });
      for (const row of pending) await this.keepNumberSends(accountId, row.e164, { record: await this.sends.get(verificationOf(row)), challengeId: row.challengeId });
      await repo.delete({ accountId, replacesPhoneId: phone.id });
      await repo.delete({ id: phone.id });
      if (phone.status !== 'verified') return;

      const target = { accountId, email: account.email, locale: account.locale };
      await this.outbox.add(m, phoneRemovedV1, { accountId, phoneId, e164: phone.e164, primary: phone.primary, reason: 'deregistered' });
      await queueAlert(this.outbox, m, target, 'security.phone_removed', { number: maskPhone(phone.e164) }, phone.id);

      const heir = left[0];
      if (phone.primary && heir) {
        await repo.update({ id: heir.id }, { primary: true });
        await this.outbox.add(m, phonePrimaryChangedV1, { accountId, phoneId: heir.id, e164: heir.e164, primary: true });
        // S8: the number the codes leave is told too (the e-mail is told of the removal above).
        await this.tellOldNumber(m, target, phone, heir, `${phone.id}:removed`);
      }
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

  /** Whether removing this number now needs a step-up (read without the lock; checked again under it). */
  private async removalNeedsStepUp(accountId: string, phoneId: string): Promise<boolean> {
    const account = await findAccount(this.db, accountId);
    const phones = await phonesOf(this.db, accountId);
    const phone = phones.find((p) => p.id === phoneId);
    if (!phone) throw phoneNotFound();
    const verifiedLeft = phones.filter((p) => p.status === 'verified' && p.id !== phone.id).length;
    return removalNeedsStepUp(settingsOf(account), { verified: phone.status === 'verified', primary: phone.primary }, verifiedLeft);
  }

  /**
   * The number's owner reported its code ("I didn't ask for this": otp ended the challenge, or
   * marked it reported after it had ended): the pending verification ends. Its row goes (a pending
   * number, or a verified number's pending replacement; the verified number stays), keeping what
   * was sent to the number so that adding it back is bounded like a resend (C9), and the request
   * is answered 410 code_expired, as an ended sign-in's. Nothing happens otherwise.
   */
  private async endIfReported(accountId: string, phone: PhoneEntity): Promise<void> {
    if (!phone.challengeId || !reported(await this.challengeState(phone.challengeId))) return;
    const ended = await this.db.transaction(async (m) => {
      await lockAccount(m, accountId);
      await this.keepNumberSends(accountId, phone.e164, { record: await this.sends.get(verificationOf(phone)), challengeId: phone.challengeId });
      return updateCount(m, `DELETE FROM phones WHERE id = $1 AND status = 'pending' AND challenge_id = $2`, [phone.id, phone.challengeId]);
    });
    this.logger.info({ accountId, phoneId: phone.id, ended: ended > 0 }, 'phone verification ended: its code was reported');
    throw new DomainError('code_expired', 'This verification ended: its code was reported as not asked for. Add the number again to get a new code.');
  }

  private async startVerification(account: Recipient, phoneId: string, e164: string, channel: PhoneChannel, clientIp?: string) {
    return this.sending(this.otp.start({
      purpose: 'phone_verification',
      channel,
      to: e164,
      accountId: account.id,
      phoneId,
      ref: this.refs.of(phoneId, e164),
      locale: account.locale,
      twoStep: true,
      ...(clientIp ? { clientIp } : {}),
    }));
  }

  /**
   * Checks a code of the number's challenge under each reference it may have been started with
   * (the active JWT_KEYS seed's first): a reference otp does not know is "not found" there and costs
   * no attempt, so a code sent before a key rotation still verifies.
   */
  private async checkCode(challengeId: string, phone: Pick<PhoneEntity, 'id' | 'e164'>, code: string): Promise<ChallengeView> {
    const refs = this.refs.all(phone.id, phone.e164);
    for (let i = 0; ; i++) {
      try {
        return await this.otp.check({ challengeId, code, purpose: 'phone_verification', ref: refs[i]! });
      } catch (error) {
        if (i === refs.length - 1 || !isDomain(error, 'not_found')) throw error;
      }
    }
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
    const rows = isUuid(phoneId)
      ? await m.query<PhoneRow[]>(`SELECT ${PHONE_COLUMNS} FROM phones WHERE id = $1 AND account_id = $2`, [phoneId, accountId])
      : [];
    if (!rows[0]) throw phoneNotFound();
    return phoneFromRow(rows[0]);
  }

  private async checkNotVerifiedElsewhere(m: EntityManager, e164: string, accountId: string): Promise<void> {
    const rows = await m.query<unknown[]>(`SELECT 1 FROM phones WHERE e164 = $1 AND status = 'verified' AND account_id <> $2 LIMIT 1`, [
      e164,
      accountId,
    ]);
    if (rows.length > 0) throw verifiedElsewhere();
  }

  /** Records a pending number unless it is verified on another account (phone_in_use), in one statement. */
  private async insertPending(m: EntityManager, p: PhoneEntity): Promise<void> {
    const inserted = await m.query<unknown[]>(
      `INSERT INTO phones (${PHONE_COLUMNS})
       SELECT ${PHONE_VALUES}
       WHERE NOT EXISTS (SELECT 1 FROM phones WHERE e164 = $3 AND status = 'verified' AND account_id <> $2)
       RETURNING id`,
      phoneValues(p),
    );
    if (inserted.length === 0) throw verifiedElsewhere();
  }
}

/** Who a code is sent for: the account's id and language. */
type Recipient = Pick<AccountEntity, 'id' | 'locale'>;

/** A 202 answer of a number whose code was sent. */
interface PhoneAnswer {
  phoneId: string;
  status: 'pending';
  replacesPhoneId?: string | null;
  verification: ReturnType<typeof verificationView>;
}

/**
 * The verification a pending number's codes belong to, the key of its limits across challenges:
 * a change's is the number it replaces (so a newer change of that number goes on with it), an
 * added number's is its own. A verified number's is its own (its next change).
 */
function verificationOf(phone: Pick<PhoneEntity, 'id' | 'status' | 'replacesPhoneId'>): string {
  return phone.status === 'pending' && phone.replacesPhoneId ? phone.replacesPhoneId : phone.id;
}

/**
 * Whether a PUT of `phone` to the number `e164` needs a fresh step-up (S8): a verified number's
 * change, or its pending replacement pointed at another number (once verified, that number
 * replaces the verified one). An added number still pending, or a replacement to its own
 * number again (a resend), goes without.
 */
function changeNeedsStepUp(phone: Pick<PhoneEntity, 'status' | 'replacesPhoneId' | 'e164'>, e164: string): boolean {
  return phone.status === 'verified' || (phone.replacesPhoneId !== null && phone.e164 !== e164);
}

/** Both bounds of one send; when either refuses, the refusal to answer (the longer wait). */
async function both<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'fulfilled' && rb.status === 'fulfilled') return [ra.value, rb.value];
  const reasons = [ra, rb].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  throw reasons.reduce(longerRefusal);
}

/** The key of a number's send history on an account (hashed: no number in a Redis key). */
function numberKey(accountId: string, e164: string): string {
  return keyPart(`${accountId}|${e164}`);
}

/** The masked numbers of a `security.phone_changed` message. */
function numberChangedVars(old: Pick<PhoneEntity, 'e164'>, now: Pick<PhoneEntity, 'e164'>) {
  return { oldNumber: maskPhone(old.e164), newNumber: maskPhone(now.e164) };
}

function phoneNotFound(): DomainError {
  return new DomainError('not_found', 'No such number on this account.');
}

function verifiedElsewhere(): DomainError {
  return new DomainError('phone_in_use', 'This number is verified on another account.');
}

const NUMBER_CHANGED = 'This number changed meanwhile; reload it.';

function numberChanged(): DomainError {
  return new DomainError('conflict', NUMBER_CHANGED);
}

function codeExpired(): DomainError {
  return new DomainError('code_expired', 'This code has expired; ask for a new one.');
}

/** Records a number's challenge if the row still holds the number it was sent to; else `conflict`. */
async function recordChallenge(m: EntityManager, phoneId: string, e164: string, challengeId: string): Promise<void> {
  if ((await updateCount(m, 'UPDATE phones SET challenge_id = $2 WHERE id = $1 AND e164 = $3', [phoneId, challengeId, e164])) === 0) throw numberChanged();
}

/** How many rows an `UPDATE phones …` changed (asked as rows, the same on every driver). */
async function updateCount(m: Pick<EntityManager, 'query'>, update: string, params: unknown[]): Promise<number> {
  return (await m.query<unknown[]>(`WITH u AS (${update} RETURNING id) SELECT id FROM u`, params)).length;
}

/**
 * Inserts a new pending number when the account does not have it yet, has fewer than
 * MAX_PHONES numbers (a pending replacement does not count) and no other account has it
 * verified. Run under the account's lock. False when refused.
 */
async function insertNewNumber(m: EntityManager, p: PhoneEntity): Promise<boolean> {
  const inserted = await m.query<unknown[]>(
    `INSERT INTO phones (${PHONE_COLUMNS})
     SELECT ${PHONE_VALUES}
     WHERE NOT EXISTS (SELECT 1 FROM phones WHERE account_id = $2 AND e164 = $3 AND replaces_phone_id IS NULL)
       AND (SELECT count(*) FROM phones WHERE account_id = $2 AND replaces_phone_id IS NULL) < $13
       AND NOT EXISTS (SELECT 1 FROM phones WHERE e164 = $3 AND status = 'verified' AND account_id <> $2)
     RETURNING id`,
    [...phoneValues(p), MAX_PHONES],
  );
  return inserted.length > 0;
}

/** The values of PHONE_COLUMNS as $1…$12, typed (a parameter also compared in a WHERE needs one type). */
const PHONE_VALUES = '$1::uuid, $2::uuid, $3::text, $4::text, $5::text, $6::text, $7::boolean, $8::text, $9::uuid, $10::uuid, $11::timestamptz, $12::timestamptz';

function phoneValues(p: PhoneEntity): unknown[] {
  return [p.id, p.accountId, p.e164, p.country, p.lineType, p.status, p.primary, p.channel, p.challengeId, p.replacesPhoneId, p.createdAt, p.verifiedAt];
}

async function markPhoneVerified(m: EntityManager, phoneId: string, now: Date, primary: boolean): Promise<void> {
  await m.query(`UPDATE phones SET status = 'verified', verified_at = $2, is_primary = $3, replaces_phone_id = NULL WHERE id = $1`, [
    phoneId,
    now,
    primary,
  ]);
}

const PHONE_COLUMNS_OF_P = PHONE_COLUMNS.split(', ')
  .map((c) => `p.${c}`)
  .join(', ');

/**
 * One of an account's numbers with the account's language, in one round trip; a missing
 * account and a missing number are told apart as before (both 404).
 */
async function findPhoneOfAccount(db: DataSource, accountId: string, phoneId: string): Promise<{ account: Recipient; phone: PhoneEntity }> {
  const rows = isUuid(accountId)
    ? await db.query<(PhoneRow & { account_locale: string })[]>(
        `SELECT a.locale AS account_locale, ${PHONE_COLUMNS_OF_P}
         FROM accounts a LEFT JOIN phones p ON p.account_id = a.id AND p.id = $2 WHERE a.id = $1`,
        [accountId, isUuid(phoneId) ? phoneId : null],
      )
    : [];
  const row = rows[0];
  if (!row) throw new DomainError('not_found', 'No such account.');
  if (row.id === null) throw phoneNotFound();
  return { account: { id: accountId, locale: row.account_locale }, phone: phoneFromRow(row) };
}

/** At most two numbers an account; a pending replacement (a change) does not count. */
function checkLimit(phones: readonly PhoneEntity[]): void {
  if (phones.filter((p) => p.replacesPhoneId === null).length >= MAX_PHONES) {
    throw new DomainError('phone_limit_reached', `An account has at most ${MAX_PHONES} numbers.`);
  }
}

