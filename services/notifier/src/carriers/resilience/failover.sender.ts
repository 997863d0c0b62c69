import { maskDestination, type Logger } from '@phonegate/platform';
import { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import pino from 'pino';
import type { Registry } from 'prom-client';
import {
  AllCarriersFailedError,
  CarrierError,
  MessageExpiredError,
  NoRouteError,
  type CarrierErrorKind,
  type SendAttempt,
} from '../carrier.errors';
import type { Accepted, Carrier, Channel, OutboundMessage } from '../carrier.types';
import { Bulkhead } from './bulkhead';
import { BREAKER_STATE_VALUE, CarrierMetrics, type CarrierCallOutcome } from './carrier-metrics';
import { LatencyWindow } from './latency-window';
import { routeCandidates, type Preferences, type RouteRule } from './routing';
import { MemoryRateLimiter, type RateLimiter } from './token-bucket';

export type BreakerState = 'closed' | 'half_open' | 'open';

export interface BreakerPolicy {
  /** Calls in the rolling window before the breaker may open at all (B1: never 0). */
  volumeThreshold: number;
  /** Failed share of calls in the window, in percent, above which it opens. */
  errorThresholdPercentage: number;
  rollingCountTimeoutMs: number;
  rollingCountBuckets: number;
  /** Open this long, then half-open: one probe; success closes, failure reopens. */
  resetTimeoutMs: number;
}

export interface CarrierPolicy {
  /** Per-call deadline (B3: 2–5 s in production); the call is aborted when it passes. */
  timeoutMs: number;
  /** Send-rate ceiling shared by every replica (token bucket in Redis). */
  ratePerSec: number;
  /** Bucket size (largest burst). Default: one second's worth. */
  burst?: number;
  /** Bulkhead: calls at once, and how many more may wait, for how long. */
  maxConcurrent: number;
  maxQueue: number;
  queueWaitMs: number;
  breaker: BreakerPolicy;
}

export interface CarrierSnapshot {
  id: string;
  channels: readonly Channel[];
  state: BreakerState;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  /** Failed share of the recent calls that reached the carrier, 0..1. */
  errorRate: number;
  recentCalls: number;
  inFlight: number;
  queued: number;
  ratePerSec: number;
  /** Carrier-specific details (SMPP: session state and window use). */
  connection?: Record<string, unknown>;
}

export interface BreakerStateChange {
  carrierId: string;
  from: BreakerState;
  to: BreakerState;
  at: Date;
  /** Why, when it was forced (`tripBreaker`). */
  reason?: string;
}

export interface SendOutcome extends Accepted {
  attempts: SendAttempt[];
}

export interface FailoverSenderOptions {
  carriers: readonly Carrier[];
  /** Policy per carrier id (every carrier needs one). */
  policies: Readonly<Record<string, CarrierPolicy>>;
  /** Channels and countries per carrier. */
  routes: readonly RouteRule[];
  /** Carrier ids per channel, in order of preference. */
  preferences: Preferences;
  /** Shared send-rate ceiling; default in-process buckets (use RedisRateLimiter with replicas). */
  rateLimiter?: RateLimiter;
  /** prom-client registry for the metrics; default the global one. */
  registry?: Registry;
  logger?: Logger;
  onBreakerStateChange?: (change: BreakerStateChange) => void;
  /** Longest total wait for a send token within one send when every carrier was only rate-limited. Default 1000. */
  maxRateWaitMs?: number;
  /** No attempt starts with less life left than this (ms). Default 50. */
  minAttemptMs?: number;
  /**
   * A carrier whose recent answers (moving average) take longer than this is tried after the
   * carriers that answer faster, for the same channel and country: a carrier that is slow but
   * not failing never trips its breaker, yet holds every code for seconds. Default 1000 ms.
   */
  slowCallMs?: number;
  /**
   * A carrier that has calls out and has given no answer at all for max(this, 3 × its average
   * answer time, at most `slowCallMs`) has stalled: it counts as slow at once, before any slow
   * answer has come back (a carrier that goes from 20 ms to 3 s would otherwise take every code
   * of those 3 s). Default 250 ms.
   */
  stallMs?: number;
  /**
   * One message in `slowProbeEvery` that is not urgent still tries a slow carrier first, so its
   * recovery is seen. Default 20.
   */
  slowProbeEvery?: number;
  /**
   * Urgent messages (codes) never probe a slow carrier while a faster one is there, unless no
   * call to it has started for this long (no other traffic to probe with). Default 5000 ms.
   */
  urgentProbeAfterMs?: number;
  now?: () => number;
}

interface Entry {
  carrier: Carrier;
  policy: CarrierPolicy;
  breaker: CircuitBreaker<[OutboundMessage, number], Accepted>;
  bulkhead: Bulkhead;
  window: LatencyWindow;
  state: BreakerState;
  /** Moving average of answer times (accepted and failed calls), ms; undefined before the first. */
  avgMs: number | undefined;
  slow: boolean;
  /** Calls out now: call number → start time (insertion order: the first is the oldest). */
  outstanding: Map<number, number>;
  /** When its last answer (accepted or failed) came. */
  lastAnswerAt: number;
  /** When a call to it last started. */
  lastTriedAt: number;
}

type AttemptResult =
  | { type: 'accepted'; accepted: Accepted }
  | { type: 'fatal'; error: CarrierError }
  | { type: 'rate_limited'; retryAfterMs: number }
  | { type: 'skipped' | 'failed' | 'aborted' };

function toCarrierError(carrierId: string, err: unknown): CarrierError {
  if (err instanceof CarrierError) return err;
  return CarrierError.unavailable(
    carrierId,
    `${carrierId}: ${(err as Error)?.message ?? 'failed'}`,
    { cause: err },
  );
}

function isBreakerRejection(err: unknown): boolean {
  return (err as { code?: string })?.code === 'EOPENBREAKER';
}

/**
 * Sends a message through the carriers configured for its channel and country, in order of
 * preference, failing over when a breaker is open, the carrier's send-rate bucket is empty, its
 * bulkhead is full, or a retryable send fails. A recipient error (bad number, opted out) is not
 * counted by the breaker and not tried elsewhere: it is thrown as is (with `attempts`). No
 * attempt starts past `notAfter`, and each call's deadline is min(carrier timeout, life left).
 *
 * Throws `CarrierError` (not retryable), `MessageExpiredError`, `NoRouteError`, or
 * `AllCarriersFailedError` (retryable). Emits `breakerStateChange`.
 */
export class FailoverSender extends EventEmitter {
  private readonly entries = new Map<string, Entry>();
  private readonly metrics: CarrierMetrics;
  private readonly rateLimiter: RateLimiter;
  private readonly logger: Logger;
  private readonly maxRateWaitMs: number;
  private readonly minAttemptMs: number;
  private readonly slowCallMs: number;
  private readonly stallMs: number;
  private readonly slowProbeEvery: number;
  private readonly urgentProbeAfterMs: number;
  private sends = 0;
  private calls = 0;
  private readonly now: () => number;

  constructor(private readonly options: FailoverSenderOptions) {
    super();
    this.metrics = new CarrierMetrics(options.registry);
    this.rateLimiter = options.rateLimiter ?? new MemoryRateLimiter();
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.maxRateWaitMs = options.maxRateWaitMs ?? 1_000;
    this.minAttemptMs = options.minAttemptMs ?? 50;
    this.slowCallMs = options.slowCallMs ?? 1_000;
    this.stallMs = options.stallMs ?? 250;
    this.slowProbeEvery = Math.max(1, options.slowProbeEvery ?? 20);
    this.urgentProbeAfterMs = options.urgentProbeAfterMs ?? 5_000;
    this.now = options.now ?? Date.now;
    for (const carrier of options.carriers) {
      const policy = options.policies[carrier.id];
      if (!policy) throw new Error(`no policy for carrier ${carrier.id}`);
      if (policy.breaker.volumeThreshold < 1)
        throw new Error(`carrier ${carrier.id}: volumeThreshold must be at least 1`);
      this.entries.set(carrier.id, this.createEntry(carrier, policy));
    }
  }

  private createEntry(carrier: Carrier, policy: CarrierPolicy): Entry {
    const id = carrier.id;
    // Our own per-call deadline instead of opossum's `timeout`: opossum aborts one shared
    // AbortController per breaker, which would cancel every call in flight, and cannot use the
    // message's remaining life. A call that passes its deadline is aborted and counts as a failure.
    const action = async (message: OutboundMessage, timeoutMs: number): Promise<Accepted> => {
      const controller = new AbortController();
      const signal = AbortSignal.any([message.signal, controller.signal]);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = CarrierError.timeout(id, `${id}: no answer within ${timeoutMs} ms`);
          controller.abort(error);
          reject(error);
        }, timeoutMs);
      });
      try {
        return await Promise.race([carrier.send({ ...message, signal }), deadline]);
      } catch (err) {
        throw toCarrierError(id, err);
      } finally {
        clearTimeout(timer);
      }
    };
    const breaker = new CircuitBreaker<[OutboundMessage, number], Accepted>(action, {
      name: id,
      timeout: false,
      volumeThreshold: policy.breaker.volumeThreshold,
      errorThresholdPercentage: policy.breaker.errorThresholdPercentage,
      rollingCountTimeout: policy.breaker.rollingCountTimeoutMs,
      rollingCountBuckets: policy.breaker.rollingCountBuckets,
      resetTimeout: policy.breaker.resetTimeoutMs,
      allowWarmUp: false,
      // B2: the recipient's fault (and a caller giving up) says nothing about the carrier.
      // (opossum passes the call's arguments after the error; its typings only declare the error.)
      errorFilter: ((err: unknown, message: OutboundMessage) =>
        (err instanceof CarrierError && !err.retryable) || message.signal.aborted) as (
        err: unknown,
      ) => boolean,
    });
    const entry: Entry = {
      carrier,
      policy,
      breaker,
      bulkhead: new Bulkhead(policy.maxConcurrent, policy.maxQueue),
      window: new LatencyWindow(),
      state: 'closed',
      avgMs: undefined,
      slow: false,
      outstanding: new Map(),
      lastAnswerAt: Number.NEGATIVE_INFINITY,
      lastTriedAt: Number.NEGATIVE_INFINITY,
    };
    breaker.on('open', () => this.transition(entry, 'open'));
    breaker.on('halfOpen', () => this.transition(entry, 'half_open'));
    breaker.on('close', () => this.transition(entry, 'closed'));
    this.metrics.breakerState.set({ carrier: id }, BREAKER_STATE_VALUE.closed);
    return entry;
  }

  private transition(entry: Entry, to: BreakerState, reason?: string): void {
    const from = entry.state;
    if (from === to) return;
    entry.state = to;
    const carrierId = entry.carrier.id;
    this.metrics.breakerState.set({ carrier: carrierId }, BREAKER_STATE_VALUE[to]);
    const change: BreakerStateChange = {
      carrierId,
      from,
      to,
      at: new Date(this.now()),
      ...(reason ? { reason } : {}),
    };
    // Not `to`: loggers mask that field as a destination.
    const log = { carrier: carrierId, previous: from, state: to, ...(reason ? { reason } : {}) };
    if (to === 'open') this.logger.warn(log, 'carrier breaker opened');
    else
      this.logger.info(
        log,
        to === 'closed' ? 'carrier breaker closed' : 'carrier breaker half-open',
      );
    this.options.onBreakerStateChange?.(change);
    this.emit('breakerStateChange', change);
  }

  /**
   * B6: open a carrier's breaker from outside (e.g. its delivery rate collapsed). It half-opens
   * after the reset time. True when this opened it; false when it was open already or the
   * carrier is unknown.
   */
  tripBreaker(carrierId: string, reason: string): boolean {
    const entry = this.entries.get(carrierId);
    if (!entry || entry.state === 'open') return false;
    this.transition(entry, 'open', reason);
    entry.breaker.open();
    return true;
  }

  breakerState(carrierId: string): BreakerState | undefined {
    return this.entries.get(carrierId)?.state;
  }

  snapshot(): CarrierSnapshot[] {
    return [...this.entries.values()].map((e) => {
      const status = (e.carrier as { status?: () => Record<string, unknown> }).status?.();
      return {
        id: e.carrier.id,
        channels: e.carrier.channels,
        state: e.state,
        latencyP50Ms: e.window.percentile(50) ?? null,
        latencyP99Ms: e.window.percentile(99) ?? null,
        errorRate: e.window.errorRate(),
        recentCalls: e.window.count,
        inFlight: e.bulkhead.inFlight,
        queued: e.bulkhead.queued,
        ratePerSec: e.policy.ratePerSec,
        ...(status ? { connection: status } : {}),
      };
    });
  }

  /** The carriers that would be tried for a message, in order (without looking at their state). */
  candidates(channel: Channel, to: string): string[] {
    return routeCandidates(channel, to, this.options.preferences, this.options.routes).filter(
      (id) => this.entries.has(id),
    );
  }

  private remainingLife(message: OutboundMessage): number {
    return message.notAfter ? message.notAfter.getTime() - this.now() : Number.POSITIVE_INFINITY;
  }

  /**
   * Candidates with the slow ones after the fast ones (see `slowCallMs`). A message that is not
   * urgent keeps the configured order once in `slowProbeEvery` (a probe); an urgent one only when
   * no call to the slow carrier has started for `urgentProbeAfterMs`. Pure reordering: a slow carrier
   * is still tried when the faster ones fail.
   */
  private inSpeedOrder(candidates: string[], urgent: boolean): string[] {
    if (candidates.length < 2) return candidates;
    const now = this.now();
    const fast: string[] = [];
    const slow: Entry[] = [];
    for (const id of candidates) {
      const entry = this.entries.get(id)!;
      if (this.isSlow(entry, now)) slow.push(entry);
      else fast.push(id);
    }
    if (!fast.length || !slow.length) return candidates;
    const probe = urgent
      ? slow.every((e) => now - e.lastTriedAt >= this.urgentProbeAfterMs)
      : ++this.sends % this.slowProbeEvery === 0;
    if (probe) return candidates;
    return [...fast, ...slow.map((e) => e.carrier.id)];
  }

  private isSlow(entry: Entry, now: number): boolean {
    if (entry.slow) return true;
    let oldest: number | undefined;
    for (const startedAt of entry.outstanding.values()) {
      oldest = startedAt;
      break;
    }
    if (oldest === undefined) return false;
    const stall = Math.min(this.slowCallMs, Math.max(this.stallMs, 3 * (entry.avgMs ?? 0)));
    return now - oldest > stall && now - entry.lastAnswerAt > stall;
  }

  private observeSpeed(entry: Entry, durationMs: number): void {
    entry.avgMs = entry.avgMs === undefined ? durationMs : entry.avgMs * 0.8 + durationMs * 0.2;
    const slow = entry.avgMs > this.slowCallMs;
    if (slow === entry.slow) return;
    entry.slow = slow;
    this.logger[slow ? 'warn' : 'info'](
      {
        carrier: entry.carrier.id,
        averageMs: Math.round(entry.avgMs),
        slowCallMs: this.slowCallMs,
      },
      slow ? 'carrier is slow: faster carriers go first' : 'carrier is fast again',
    );
  }

  async send(message: OutboundMessage): Promise<SendOutcome> {
    const candidates = this.inSpeedOrder(
      this.candidates(message.channel, message.to),
      message.urgent === true,
    );
    if (!candidates.length) throw new NoRouteError(message.channel);
    const attempts: SendAttempt[] = [];
    const doneWith = new Set<string>();
    // A carrier waited on for a token is recorded once, however often it is polled.
    const rateLimited = new Set<string>();
    let rateWaitLeft = this.maxRateWaitMs;
    // Built only when a line is written (masking the number costs, and most sends log nothing).
    const log = () => ({
      messageId: message.messageId,
      channel: message.channel,
      maskedTo: maskDestination(message.to),
    });

    for (;;) {
      let shortestWait = Number.POSITIVE_INFINITY;
      for (const id of candidates) {
        if (doneWith.has(id)) continue;
        if (message.signal.aborted) throw new AllCarriersFailedError(attempts, 'aborted');
        if (this.remainingLife(message) <= this.minAttemptMs) {
          this.logger.info(
            { ...log(), attempts: attempts.length },
            'message expired before a carrier took it',
          );
          throw new MessageExpiredError(attempts);
        }
        const result = await this.attempt(this.entries.get(id)!, message, attempts, rateLimited);
        switch (result.type) {
          case 'accepted':
            // The dispatcher logs the outcome (one line a message at info); this is the detail.
            if (this.logger.isLevelEnabled('debug'))
              this.logger.debug(
                { ...log(), carrier: id, attempts: attempts.length },
                'message accepted by carrier',
              );
            return { ...result.accepted, attempts };
          case 'fatal':
            this.logger.info(
              {
                ...log(),
                carrier: id,
                kind: result.error.kind,
                providerCode: result.error.providerCode,
              },
              'message refused',
            );
            result.error.attempts = attempts;
            throw result.error;
          case 'rate_limited':
            shortestWait = Math.min(shortestWait, result.retryAfterMs);
            break;
          case 'aborted':
            throw new AllCarriersFailedError(attempts, 'aborted');
          case 'failed':
          case 'skipped':
            doneWith.add(id);
            break;
        }
      }
      if (!Number.isFinite(shortestWait)) break;
      const wait = Math.min(
        shortestWait,
        rateWaitLeft,
        this.remainingLife(message) - this.minAttemptMs,
      );
      if (wait <= 0) break;
      await sleep(wait, message.signal);
      rateWaitLeft -= wait;
    }
    if (this.remainingLife(message) <= this.minAttemptMs) throw new MessageExpiredError(attempts);
    this.logger.warn(
      { ...log(), attempts: attempts.map((a) => `${a.carrierId}:${a.kind ?? a.outcome}`) },
      'every carrier failed',
    );
    throw new AllCarriersFailedError(attempts);
  }

  private record(
    attempts: SendAttempt[],
    carrierId: string,
    channel: Channel,
    outcome: SendAttempt['outcome'],
    metricOutcome: CarrierCallOutcome,
    durationMs: number,
    extra: { kind?: CarrierErrorKind; error?: string } = {},
  ): void {
    attempts.push({ carrierId, outcome, durationMs, at: new Date(this.now()), ...extra });
    this.metrics.calls.inc({ carrier: carrierId, channel, outcome: metricOutcome });
  }

  private async attempt(
    entry: Entry,
    message: OutboundMessage,
    attempts: SendAttempt[],
    rateLimited: Set<string>,
  ): Promise<AttemptResult> {
    const id = entry.carrier.id;
    const channel = message.channel;
    const breaker = entry.breaker as CircuitBreaker<[OutboundMessage, number], Accepted> & {
      pendingClose: boolean;
    };
    // Open, or half-open with its one probe already out: pass over without using a token.
    if (!(breaker.closed || breaker.pendingClose)) {
      this.record(attempts, id, channel, 'open', 'open', 0);
      return { type: 'skipped' };
    }
    let release: () => void;
    try {
      const waitMs = Math.min(
        entry.policy.queueWaitMs,
        this.remainingLife(message) - this.minAttemptMs,
      );
      release = await entry.bulkhead.acquire(waitMs, message.signal, message.urgent === true);
    } catch {
      if (message.signal.aborted) return { type: 'aborted' };
      this.record(attempts, id, channel, 'bulkhead_full', 'bulkhead_full', 0);
      return { type: 'skipped' };
    }
    try {
      const token = await this.rateLimiter.take(id, {
        ratePerSec: entry.policy.ratePerSec,
        capacity: entry.policy.burst ?? Math.max(1, entry.policy.ratePerSec),
      });
      if (!token.allowed) {
        if (!rateLimited.has(id))
          this.record(attempts, id, channel, 'rate_limited', 'rate_limited', 0);
        rateLimited.add(id);
        return { type: 'rate_limited', retryAfterMs: token.retryAfterMs };
      }
      const remaining = this.remainingLife(message);
      if (remaining <= this.minAttemptMs) return { type: 'skipped' };
      const timeoutMs = Math.max(1, Math.floor(Math.min(entry.policy.timeoutMs, remaining)));
      const started = this.now();
      const call = ++this.calls;
      entry.outstanding.set(call, started);
      entry.lastTriedAt = started;
      try {
        const accepted = await breaker.fire(message, timeoutMs);
        const duration = this.now() - started;
        entry.lastAnswerAt = started + duration;
        entry.window.record(duration, false);
        this.observeSpeed(entry, duration);
        this.metrics.callDuration.observe({ carrier: id, outcome: 'accepted' }, duration / 1000);
        this.record(attempts, id, channel, 'accepted', 'accepted', duration);
        return { type: 'accepted', accepted };
      } catch (err) {
        const duration = this.now() - started;
        if (isBreakerRejection(err)) {
          this.record(attempts, id, channel, 'open', 'open', duration);
          return { type: 'skipped' };
        }
        const error = toCarrierError(id, err);
        entry.lastAnswerAt = started + duration;
        if (message.signal.aborted) {
          this.record(attempts, id, channel, 'failed', 'timeout', duration, {
            kind: error.kind,
            error: error.message,
          });
          return { type: 'aborted' };
        }
        const metricOutcome: CarrierCallOutcome =
          error.kind === 'recipient' ? 'recipient' : error.kind;
        this.metrics.callDuration.observe({ carrier: id, outcome: metricOutcome }, duration / 1000);
        if (!error.retryable) {
          this.record(
            attempts,
            id,
            channel,
            error.kind === 'recipient' ? 'recipient' : 'failed',
            metricOutcome,
            duration,
            {
              kind: error.kind,
              error: error.message,
            },
          );
          return { type: 'fatal', error };
        }
        entry.window.record(duration, true);
        this.observeSpeed(entry, duration);
        this.record(attempts, id, channel, 'failed', metricOutcome, duration, {
          kind: error.kind,
          error: error.message,
        });
        this.logger.info(
          {
            messageId: message.messageId,
            carrier: id,
            kind: error.kind,
            providerCode: error.providerCode,
          },
          'carrier send failed',
        );
        return { type: 'failed' };
      } finally {
        entry.outstanding.delete(call);
      }
    } finally {
      release();
    }
  }

  /** Stops the breakers' timers (carriers are closed by their owner). */
  close(): void {
    for (const e of this.entries.values()) e.breaker.shutdown();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
