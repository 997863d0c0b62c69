import { randomUUID } from 'node:crypto';
import {
  type ChallengePurpose,
  type EventContract,
  type EventData,
  notificationRequestedV1,
} from '@phonegate/contracts';
import { type Clock, DomainError, type Logger } from '@phonegate/platform';
import { type DataSource, type EntityManager, IsNull, Not } from 'typeorm';
import type { KeyedHasher } from '../codes/keyed-hash';
import type { SecretBox } from '../codes/secret-box';
import type { OtpConfig } from '../config/otp.config';
import { type AccountFailures, accountFailureKey } from '../limits/account-failures.store';
import type { Gate, RedisGates } from '../limits/gates.store';
import type { Messenger } from '../alerts/messenger';
import type { OtpMetrics } from '../otp.metrics';
import { BackupCode } from './backup-code.entity';
import { generateBackupCodes, looksLikeBackupCode, normalizeBackupCode } from './backup-codes';
import { RedisStepUps, type StepUps, type TakenStepUp } from './step-ups.store';
import { base32, generateTotpSecret, otpauthUri, verifyTotp } from './totp';
import { TotpAuthenticator } from './totp-authenticator.entity';

/** What the factor use cases need of the outbox (libs/messaging `Outbox`). */
export interface OutboxWriter {
  add<C extends EventContract>(
    manager: EntityManager,
    contract: C,
    data: EventData<C>,
  ): Promise<unknown>;
}

export type FactorKind = 'totp' | 'backup_code';

/**
 * How one factor code fared: `used` is a right code that was accepted already (a TOTP step at or
 * before the last accepted one, a backup code marked used), such as the copy of a double-tapped
 * submit that lost the race to its twin. It is refused like a used challenge code (410
 * code_expired) and is no wrong guess: it spends no attempt and counts no failure (C8).
 */
type FactorOutcome = 'approved' | 'mismatch' | 'used';

/** 410: the code was right but is used up (C10, C11: single use); the same answer as a used challenge code's. */
function usedCode(): DomainError {
  return new DomainError('code_expired', 'This code was already used; use a new one.');
}

/** Whether an account is one identity has (`KnownAccounts`): 404 not_found, or 503, when not. */
export interface AccountCheck {
  assertKnown(accountId: string): Promise<void>;
}

/** A step-up shown with a factor change (S8): the id of an approved step-up verification. */
export interface StepUpProof {
  stepUpId?: string | undefined;
}

/** 403: replacing a factor needs a fresh step-up of the account (S8). */
export function stepUpRequired(): DomainError {
  return new DomainError(
    'step_up_required',
    "This account already has this factor: replacing it needs a fresh step-up. Send stepUpId, the id of a verification of purpose step_up for this account approved in the last few minutes (identity's step-up answers it as challenge.id), used once.",
  );
}

const secretAad = (id: string, accountId: string) => `totp|${id}|${accountId}`;

/**
 * Changes of one account's factors take turns (a transaction lock, PostgreSQL's advisory lock on
 * the account): each sees what the one before committed, so two first sets or two first
 * authenticators made at once cannot both go through free (the second replaces the first: S8).
 */
async function lockFactorsOf(m: EntityManager, accountId: string): Promise<void> {
  await m.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
    `otp:factors:${accountId}`,
  ]);
}

/** The notifier's template for a replaced factor (see `FactorService.alert`). WIRE NAME. */
export const FACTOR_CHANGED_TEMPLATE = 'security.two_step_changed';

/**
 * TOTP authenticators and backup codes (SECURITY C10, C11), in PostgreSQL.
 * Every attempt passes the account's sign-in lock and a per-account attempt
 * window first (atomic in Redis); a success gives its slot back. A verification
 * (identity, over the bus) also clears the account's failure count on success
 * and counts towards the lock on failure (C8); an enrolment's confirmation (a
 * storefront's HTTP call) does neither.
 */
export class FactorService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly outbox: OutboxWriter,
    private readonly box: SecretBox,
    private readonly hasher: KeyedHasher,
    private readonly gates: RedisGates,
    private readonly failures: AccountFailures,
    private readonly messenger: Messenger,
    private readonly clock: Clock,
    private readonly config: OtpConfig,
    private readonly metrics: OtpMetrics,
    private readonly logger: Logger,
    private readonly accounts: AccountCheck,
    private readonly stepUps: StepUps = new RedisStepUps(gates.redis),
  ) {}

  /**
   * Starts an enrolment: a fresh 160-bit secret, sealed at rest; shown once. Earlier unconfirmed
   * enrolments go. Only for an account identity has (404 not_found otherwise, nothing kept).
   */
  async enrollTotp(
    accountId: string,
    label?: string,
  ): Promise<{ id: string; secret: string; otpauthUri: string }> {
    await this.accounts.assertKnown(accountId);
    const id = randomUUID();
    const secret = generateTotpSecret();
    const sealed = this.box.seal(secret, secretAad(id, accountId));
    await this.dataSource.transaction(async (m) => {
      await m.delete(TotpAuthenticator, { accountId, confirmedAt: IsNull() });
      await m.insert(TotpAuthenticator, {
        id,
        accountId,
        secretKid: sealed.kid,
        secretSealed: sealed.blob,
        confirmedAt: null,
        lastUsedStep: null,
        createdAt: this.clock.now(),
      });
    });
    const uri = otpauthUri(
      this.config.totpIssuer,
      label ?? `account-${accountId.slice(0, 8)}`,
      secret,
    );
    const shown = base32(secret);
    secret.fill(0);
    return { id, secret: shown, otpauthUri: uri };
  }

  /**
   * Confirms an enrolment with a first code; it then replaces any older authenticator of the
   * account. The account's first authenticator is free; replacing a confirmed one needs a step-up
   * (S8), taken before anything is counted and given back when the confirmation does not go
   * through (a wrong code: the person types it again with the same step-up).
   */
  async confirmTotp(
    accountId: string,
    id: string,
    code: string,
    proof: StepUpProof,
  ): Promise<{ id: string; status: 'confirmed' }> {
    const authenticators = this.dataSource.getRepository(TotpAuthenticator);
    const row = await authenticators.findOneBy({ id, accountId });
    if (!row) throw new DomainError('not_found', 'No such authenticator.');
    const confirmedOther = { accountId, id: Not(id), confirmedAt: Not(IsNull()) };
    const replacing = await authenticators.existsBy(confirmedOther);
    return this.withStepUp(replacing, accountId, proof, async (stepUp) => {
      const attempt = await this.beginAttempt(accountId, 'totp_confirm', undefined);
      try {
        const step = this.checkTotp(row, code);
        const outcome: FactorOutcome =
          typeof step !== 'number'
            ? step
            : await this.dataSource.transaction(async (m) => {
                await lockFactorsOf(m, accountId);
                // Not claimed: a copy of this confirmation (or another code) took this step first.
                if (!(await this.claimStep(m, row, step, true))) return 'used' as const;
                // Another confirmation may have committed since the look above: still one step-up per replacement.
                if (!stepUp && (await m.existsBy(TotpAuthenticator, confirmedOther)))
                  throw stepUpRequired();
                await m.delete(TotpAuthenticator, { accountId, id: Not(id) });
                // A step-up was taken exactly when a confirmed authenticator is being replaced.
                if (stepUp) await this.alert(m, accountId, 'totp', `otp:totp-replaced:${id}`);
                return 'approved' as const;
              });
        // An enrolment is the storefront's HTTP call for an account it names: its codes neither
        // count towards nor clear the account's sign-in failures (C8), only its attempt window.
        await this.finishAttempt(accountId, 'totp_confirm', attempt, outcome, false);
        return { id, status: 'confirmed' as const };
      } catch (error) {
        // A wrong code keeps its attempt; a used one was given back by finishAttempt.
        if (!(
          error instanceof DomainError && ['code_mismatch', 'code_expired'].includes(error.code)
        ))
          await this.gates.refund(attempt.gates, attempt.ticket).catch(() => undefined);
        throw error;
      }
    });
  }

  /** Verifies a TOTP or backup code for an account (sign-in, step-up). */
  async verify(
    accountId: string,
    kind: FactorKind,
    code: string,
    purpose: ChallengePurpose,
  ): Promise<{ approved: true }> {
    const attempt = await this.beginAttempt(accountId, kind, purpose);
    let outcome: FactorOutcome;
    try {
      outcome =
        kind === 'totp'
          ? await this.verifyTotpFactor(accountId, code)
          : await this.useBackupCode(accountId, code);
    } catch (error) {
      await this.gates.refund(attempt.gates, attempt.ticket).catch(() => undefined);
      throw error;
    }
    await this.finishAttempt(accountId, kind, attempt, outcome, true, purpose);
    return { approved: true };
  }

  /**
   * A new set of backup codes, shown once; the old set is revoked in the same transaction. The
   * account's first set is free; once it has a set (even a used-up one), a new one needs a
   * step-up (S8). Only for an account identity has (404 not_found otherwise, nothing kept).
   */
  async regenerateBackupCodes(accountId: string, proof: StepUpProof): Promise<{ codes: string[] }> {
    await this.accounts.assertKnown(accountId);
    const reissue = await this.dataSource.getRepository(BackupCode).existsBy({ accountId });
    return this.withStepUp(reissue, accountId, proof, (stepUp) =>
      this.issueBackupCodes(accountId, stepUp),
    );
  }

  private async issueBackupCodes(
    accountId: string,
    stepUp: TakenStepUp | undefined,
  ): Promise<{ codes: string[] }> {
    const codes = generateBackupCodes();
    const setId = randomUUID();
    const now = this.clock.now();
    await this.dataSource.transaction(async (m) => {
      await lockFactorsOf(m, accountId);
      const revoked = await m.delete(BackupCode, { accountId });
      // A set made since the look before: still one step-up per new set.
      if (!stepUp && (revoked.affected ?? 0) > 0) throw stepUpRequired();
      await m.insert(
        BackupCode,
        codes.map((code) => {
          const mac = this.backupDigests(accountId, normalizeBackupCode(code))[0] as {
            kid: string;
            hex: string;
          };
          return {
            id: randomUUID(),
            accountId,
            setId,
            kid: mac.kid,
            codeHash: mac.hex,
            usedAt: null,
            createdAt: now,
          };
        }),
      );
      if (stepUp) await this.alert(m, accountId, 'backup_codes', `otp:backup-codes:${setId}`);
    });
    return { codes };
  }

  /**
   * Runs `change` with a step-up of the account when `needed` (S8): the step-up named by `proof`
   * is taken (used once) before the change and given back if the change fails; 403
   * step_up_required when it is missing, not identity's step-up of this account, not approved, older
   * than the step-up window (5 minutes) or used already.
   */
  private async withStepUp<T>(
    needed: boolean,
    accountId: string,
    proof: StepUpProof,
    change: (stepUp: TakenStepUp | undefined) => Promise<T>,
  ): Promise<T> {
    if (!needed) return change(undefined);
    if (!proof.stepUpId) throw stepUpRequired();
    const taken = await this.takeStepUp(accountId, proof.stepUpId, 'factor change');
    try {
      return await change(taken);
    } catch (error) {
      await this.stepUps
        .giveBack(taken)
        .catch((e: unknown) => this.logger.warn({ err: e }, 'step-up not given back'));
      throw error;
    }
  }

  /**
   * identity's spend of its step-up (S8, `otp.step_up.take.v1`): the same take as a factor
   * change's, so one approval allows one change at identity or here, never one at each. 403
   * step_up_required when it is not a usable step-up of the account (as for a factor change).
   */
  async takeStepUpFor(
    accountId: string,
    challengeId: string,
    token: string,
  ): Promise<{ challengeId: string; taken: true }> {
    const taken = await this.takeStepUp(accountId, challengeId, 'identity change', token);
    return { challengeId: taken.challengeId, taken: true };
  }

  /** Gives back a step-up identity took, while `token` holds it (`otp.step_up.give_back.v1`). */
  async giveBackStepUp(challengeId: string, token: string): Promise<{ givenBack: boolean }> {
    return {
      givenBack: await this.stepUps.giveBack({ challengeId: challengeId.toLowerCase(), token }),
    };
  }

  /** Takes the step-up `challengeId` of the account (used once) or refuses: 403 step_up_required. */
  private async takeStepUp(
    accountId: string,
    challengeId: string,
    use: string,
    token?: string,
  ): Promise<TakenStepUp> {
    const taken = await this.stepUps.take({
      accountId,
      challengeId: challengeId.toLowerCase(),
      nowMs: this.clock.nowMs(),
      windowMs: this.config.stepUpWindowMs,
      ...(token ? { token } : {}),
    });
    if (typeof taken === 'string') {
      this.logger.info({ accountId, refused: taken, use }, 'step-up refused: not usable');
      throw stepUpRequired();
    }
    return taken;
  }

  async factors(accountId: string): Promise<{ totp: boolean; backupCodes: number }> {
    const totp = await this.dataSource
      .getRepository(TotpAuthenticator)
      .existsBy({ accountId, confirmedAt: Not(IsNull()) });
    const backupCodes = await this.dataSource
      .getRepository(BackupCode)
      .countBy({ accountId, usedAt: IsNull() });
    return { totp, backupCodes };
  }

  private async verifyTotpFactor(accountId: string, code: string): Promise<FactorOutcome> {
    const row = await this.dataSource
      .getRepository(TotpAuthenticator)
      .findOne({ where: { accountId, confirmedAt: Not(IsNull()) }, order: { createdAt: 'DESC' } });
    if (!row)
      throw new DomainError('factor_not_ready', 'This account has no confirmed authenticator.');
    const step = this.checkTotp(row, code);
    if (typeof step !== 'number') return step;
    // Not claimed: the authenticator accepted this step (or a later one) since the read above,
    // e.g. a copy of this very request: the code is a used one now.
    return (await this.claimStep(this.dataSource.manager, row, step, false)) ? 'approved' : 'used';
  }

  /** The step a right, unused code is for; `used` for a right code of a step accepted already. */
  private checkTotp(row: TotpAuthenticator, code: string): number | 'mismatch' | 'used' {
    const secret = this.box.open(
      { kid: row.secretKid, blob: row.secretSealed },
      secretAad(row.id, row.accountId),
    );
    try {
      const result = verifyTotp(
        secret,
        code.replace(/\s/g, ''),
        this.clock.nowMs(),
        row.lastUsedStep ?? undefined,
      );
      if (result.valid) return result.timeStep;
      return result.used ? 'used' : 'mismatch';
    } finally {
      secret.fill(0);
    }
  }

  /**
   * Moves `last_used_step` forward to `step` only if it is still before it: of
   * two requests with the same code, one updates the row and the other finds
   * nothing to update (a step is accepted once, C10).
   */
  private async claimStep(
    m: EntityManager,
    row: TotpAuthenticator,
    step: number,
    confirm: boolean,
  ): Promise<boolean> {
    const result = await m
      .createQueryBuilder()
      .update(TotpAuthenticator)
      .set(confirm ? { lastUsedStep: step, confirmedAt: this.clock.now() } : { lastUsedStep: step })
      .where(
        'id = :id AND account_id = :accountId AND (last_used_step IS NULL OR last_used_step < :step)',
        {
          id: row.id,
          accountId: row.accountId,
          step,
        },
      )
      .execute();
    return (result.affected ?? 0) === 1;
  }

  private async useBackupCode(accountId: string, code: string): Promise<FactorOutcome> {
    const normalized = normalizeBackupCode(code);
    if (looksLikeBackupCode(normalized)) {
      const hashes = this.backupDigests(accountId, normalized).map((d) => d.hex);
      const result = await this.dataSource
        .createQueryBuilder()
        .update(BackupCode)
        .set({ usedAt: this.clock.now() })
        .where('account_id = :accountId AND code_hash IN (:...hashes) AND used_at IS NULL', {
          accountId,
          hashes,
        })
        .execute();
      if ((result.affected ?? 0) === 1) return 'approved';
      // A code of the current set that is marked used: a copy of a use (a double tap), not a guess.
      // A revoked set's codes are deleted, so they stay wrong codes.
      const used = await this.dataSource
        .createQueryBuilder(BackupCode, 'b')
        .where(
          'b.account_id = :accountId AND b.code_hash IN (:...hashes) AND b.used_at IS NOT NULL',
          {
            accountId,
            hashes,
          },
        )
        .getExists();
      if (used) return 'used';
    }
    if (
      (await this.dataSource.getRepository(BackupCode).countBy({ accountId, usedAt: IsNull() })) ===
      0
    ) {
      throw new DomainError('factor_not_ready', 'This account has no unused backup codes.');
    }
    return 'mismatch';
  }

  /** One digest per configured key (newest first), so codes made before a key rotation still match. */
  private backupDigests(accountId: string, normalized: string): { kid: string; hex: string }[] {
    return this.hasher
      .labelledAll('backup', `${accountId}|${normalized}`)
      .map((d) => ({ kid: d.kid, hex: d.digest.toString('hex') }));
  }

  private async beginAttempt(
    accountId: string,
    kind: string,
    purpose: ChallengePurpose | undefined,
  ) {
    const gates: Gate[] = [];
    if (purpose === 'sign_in') {
      gates.push({
        kind: 'threshold',
        name: 'account_lock',
        key: accountFailureKey(accountId),
        max: this.config.account.failureLimit,
      });
    }
    for (const w of this.config.limits.factor) {
      gates.push({
        kind: 'window',
        name: 'factor',
        key: `rl:f:${accountId}:${w.windowMs}`,
        max: w.max,
        ms: w.windowMs,
      });
    }
    const result = await this.gates.pass(gates, this.clock.nowMs());
    if (!result.passed) {
      this.metrics.factorChecks.inc({ kind, outcome: result.gate.name });
      const retryAfter = Math.ceil(result.retryAfterMs / 1000);
      if (result.gate.name === 'account_lock') {
        throw new DomainError(
          'account_locked',
          'Too many wrong codes for this account; sign-in is locked for a while.',
          { retryAfter },
        );
      }
      throw new DomainError(
        'too_many_attempts',
        'Too many codes tried; wait before trying again.',
        { attemptsRemaining: 0, retryAfter },
      );
    }
    return { gates, ticket: result.ticket, remaining: result.remaining ?? 0 };
  }

  private async finishAttempt(
    accountId: string,
    kind: string,
    attempt: { gates: Gate[]; ticket: string; remaining: number },
    outcome: FactorOutcome,
    accountCounts: boolean,
    purpose?: ChallengePurpose,
  ) {
    this.metrics.factorChecks.inc({ kind, outcome });
    if (outcome === 'used') {
      // A right code accepted already (a copy of a request that won): no attempt spent, no
      // failure counted, and nothing cleared either (the winner did that).
      await this.gates
        .refund(attempt.gates, attempt.ticket)
        .catch((e: unknown) => this.logger.warn({ err: e }, 'factor attempt not given back'));
      this.logger.info({ accountId, kind }, 'factor code already used: refused, not counted');
      throw usedCode();
    }
    if (outcome === 'approved') {
      await Promise.all([
        this.gates.refund(attempt.gates, attempt.ticket),
        accountCounts
          ? purpose === 'sign_in'
            ? this.failures.signedIn(accountId)
            : this.failures.clear(accountId)
          : undefined,
      ]).catch((e: unknown) => this.logger.warn({ err: e }, 'factor success bookkeeping failed'));
      return;
    }
    const failures = accountCounts ? (await this.failures.fail(accountId)).failures : 0;
    if (accountCounts && failures === this.config.account.failureLimit) {
      this.logger.warn({ accountId, failures }, 'account sign-in locked');
      await this.messenger
        .alert(
          'security.lockout',
          accountId,
          `otp:account-lock:${accountId}:${this.clock.nowMs()}`,
          {
            scope: 'account',
            minutes: Math.round(this.config.account.lockMs / 60_000),
            at: this.clock.now().toISOString(),
          },
        )
        .catch((e: unknown) => this.logger.warn({ err: e }, 'security alert not published'));
    }
    throw new DomainError('code_mismatch', 'That code is not right.', {
      attemptsRemaining: attempt.remaining,
    });
  }

  /**
   * Tells the account's e-mail that a two-step factor was replaced (S8), in the change's
   * transaction (outbox); the notifier finds the address from the account, as for otp's other
   * alerts. The template is the one identity uses for a change of two-step's method,
   * `security.two_step_changed`, with the factor that changed.
   */
  private async alert(
    m: EntityManager,
    accountId: string,
    factor: 'totp' | 'backup_codes',
    dedupeKey: string,
  ): Promise<void> {
    if (!this.config.factorAlerts) return;
    await this.outbox.add(m, notificationRequestedV1, {
      messageId: randomUUID(),
      priority: 'critical',
      channel: 'email',
      accountId,
      template: FACTOR_CHANGED_TEMPLATE,
      locale: 'en',
      variables: {
        host: this.config.originHost,
        at: this.clock.now().toISOString(),
        factor,
      },
      dedupeKey,
      origin: { service: 'otp' },
    });
  }
}
