import type { Channel, ChallengePurpose } from '@phonegate/contracts';
import { DomainError, type Logger } from '@phonegate/platform';
import { z } from 'zod';
import type { KeyedHasher } from '../codes/keyed-hash';
import type { OtpConfig } from '../config/otp.config';
import type { OtpMetrics } from '../otp.metrics';
import { accountFailureKey } from './account-failures.store';
import type { Gate, GateResult } from './gates.store';
import {
  enforcePhonePolicy,
  numberBlock,
  parsePhone,
  type ParsedPhone,
  pumpPrefix,
} from './phone-policy';
import {
  type PumpCall,
  type PumpObservation,
  quarantineKey,
  type RedisPumping,
} from './pumping.store';

export interface Destination {
  /** E.164 or a lower-cased e-mail address; undefined: the account's e-mail. */
  value: string | undefined;
  phone?: ParsedPhone;
}

export interface SendIntent {
  purpose: ChallengePurpose;
  channel: Channel;
  destination: Destination;
  accountId?: string;
  clientIp?: string;
  twoStep: boolean;
}

const email = z.string().trim().toLowerCase().pipe(z.email().max(320));

/** UTC day boundary, for the per-country daily ceiling. */
function msToEndOfUtcDay(nowMs: number): number {
  const d = new Date(nowMs);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1) - nowMs;
}

/**
 * Everything a send must pass before any code is made (SECURITY S1–S5):
 * destination validity, country and line-type rules, the account's sign-in
 * lock, quarantined prefixes, and the sliding-window limits per destination,
 * account, client IP and country plus the country's daily ceiling, all in one
 * atomic step; then the pumping signals, which may quarantine the prefix.
 * The answers do not depend on whether a destination belongs to an account (S6).
 */
export class SendGuard {
  constructor(
    private readonly pumping: RedisPumping,
    private readonly hasher: KeyedHasher,
    private readonly config: OtpConfig,
    private readonly metrics: OtpMetrics,
    private readonly logger: Logger,
  ) {}

  /** Normalizes a destination for a channel; 422 when it is not usable. */
  destination(channel: Channel, to: string | undefined, country?: string): Destination {
    if (channel === 'email') {
      if (to === undefined) return { value: undefined };
      const parsed = email.safeParse(to);
      if (!parsed.success) {
        throw new DomainError('validation_failed', 'The request has invalid fields.', {
          errors: [{ field: 'to', code: 'invalid_format', message: 'expected an e-mail address' }],
        });
      }
      return { value: parsed.data };
    }
    if (to === undefined)
      throw new DomainError('invalid_phone_number', 'A phone number is needed for this channel.');
    const phone = parsePhone(to, country);
    return { value: phone.e164, phone };
  }

  /**
   * The country and line-type rules (throwing at once), then the gates this
   * send must pass, and the pumping prefix of a phone destination.
   */
  plan(intent: SendIntent, nowMs: number): { gates: Gate[]; prefix?: string } {
    const phone = intent.destination.phone;
    if (phone) {
      try {
        enforcePhonePolicy(phone, this.config.phones, intent.twoStep);
      } catch (error) {
        this.metrics.refused.inc({ reason: (error as DomainError).extra['reason'] as string });
        throw error;
      }
    }
    const gates = this.gatesFor(intent, nowMs);
    return phone
      ? { gates, prefix: pumpPrefix(phone.e164, this.config.pumping.prefixLength) }
      : { gates };
  }

  /** The answer for a gate that refused: account lock, quarantine (with its reason) or a rate limit, all with Retry-After. */
  refusal(result: Extract<GateResult, { passed: false }>): DomainError {
    const name = result.gate.name;
    this.metrics.refused.inc({ reason: name });
    const retryAfter = Math.ceil(result.retryAfterMs / 1000);
    if (name === 'account_lock') {
      return new DomainError(
        'account_locked',
        'Too many wrong codes for this account; sign-in is locked for a while.',
        { retryAfter },
      );
    }
    if (name === 'quarantine') {
      return new DomainError(
        'prefix_quarantined',
        `Codes to this number range are paused: ${result.reason ?? 'suspected SMS pumping'}.`,
        {
          reason: result.reason ?? 'suspected_pumping',
          retryAfter,
        },
      );
    }
    return new DomainError('rate_limited', 'Too many codes requested; try again later.', {
      limit: name,
      retryAfter,
    });
  }

  /**
   * The pumping observation of a send to a number, for the store to make in the
   * step that creates or resends the challenge (one round trip; it may
   * quarantine the block or prefix for the sends that follow, this one has gone);
   * undefined when the destination is not a number.
   */
  observation(destination: Destination, nowMs: number): PumpCall | undefined {
    const phone = destination.phone;
    if (!phone) return undefined;
    const { block, index } = numberBlock(phone.e164, this.config.pumping.blockDigits);
    const prefix = pumpPrefix(phone.e164, this.config.pumping.prefixLength);
    return this.pumping.observeCall({ prefix, block }, index, nowMs);
  }

  /** What an observation found: the prefix's ratio, and a quarantine it raised (metric and log line). */
  observed(destination: Destination, seen: PumpObservation | 'failed'): void {
    const phone = destination.phone;
    if (!phone) return;
    if (seen === 'failed') {
      this.logger.warn('pumping signal not recorded');
      return;
    }
    const prefix = pumpPrefix(phone.e164, this.config.pumping.prefixLength);
    if (seen.sent >= this.config.pumping.ratioMinSends)
      this.metrics.prefixRatio.set({ prefix }, seen.verified / seen.sent);
    if (seen.signal) {
      this.metrics.pumpingSignals.inc({ signal: seen.signal });
      this.logger.warn(
        { prefix, signal: seen.signal, run: seen.run, sent: seen.sent, verified: seen.verified },
        'number range quarantined',
      );
    }
  }

  private gatesFor(intent: SendIntent, nowMs: number): Gate[] {
    const gates: Gate[] = [];
    const l = this.config.limits;
    if (intent.purpose === 'sign_in' && intent.accountId) {
      gates.push({
        kind: 'threshold',
        name: 'account_lock',
        key: accountFailureKey(intent.accountId),
        max: this.config.account.failureLimit,
      });
    }
    const phone = intent.destination.phone;
    if (phone) {
      const { block } = numberBlock(phone.e164, this.config.pumping.blockDigits);
      gates.push({ kind: 'quarantine', name: 'quarantine', key: quarantineKey('block', block) });
      gates.push({
        kind: 'quarantine',
        name: 'quarantine',
        key: quarantineKey('prefix', pumpPrefix(phone.e164, this.config.pumping.prefixLength)),
      });
    }
    const dest =
      intent.destination.value ?? (intent.accountId ? `account:${intent.accountId}` : undefined);
    if (dest) {
      // One keyed hash per value, whatever the number of windows.
      const tag = this.tag('dest', dest);
      for (const w of l.destination)
        gates.push({
          kind: 'window',
          name: 'destination',
          key: `rl:d:${tag}:${w.windowMs}`,
          max: w.max,
          ms: w.windowMs,
        });
    }
    if (intent.accountId)
      for (const w of l.account)
        gates.push({
          kind: 'window',
          name: 'account',
          key: `rl:a:${intent.accountId}:${w.windowMs}`,
          max: w.max,
          ms: w.windowMs,
        });
    if (intent.clientIp) {
      const tag = this.tag('ip', intent.clientIp);
      for (const w of l.ip)
        gates.push({
          kind: 'window',
          name: 'ip',
          key: `rl:i:${tag}:${w.windowMs}`,
          max: w.max,
          ms: w.windowMs,
        });
    }
    if (phone) {
      const cc = phone.callingCode;
      for (const w of l.country)
        gates.push({
          kind: 'window',
          name: 'country',
          key: `rl:c:${cc}:${w.windowMs}`,
          max: w.max,
          ms: w.windowMs,
        });
      const day = new Date(nowMs).toISOString().slice(0, 10).replace(/-/g, '');
      gates.push({
        kind: 'counter',
        name: 'country_daily',
        key: `rl:cd:${cc}:${day}`,
        max: l.countryDailyCeilings.get(cc) ?? l.countryDailyCeiling,
        ms: msToEndOfUtcDay(nowMs),
      });
    }
    return gates;
  }

  /** Destinations and IPs appear in rate-limit keys only as a keyed hash (rotating CODE_HMAC_KEYS restarts these windows). */
  private tag(label: string, value: string): string {
    return (this.hasher.labelled(label, value) as { digest: Buffer }).digest
      .subarray(0, 12)
      .toString('base64url');
  }
}
