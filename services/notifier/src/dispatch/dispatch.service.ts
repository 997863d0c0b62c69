import type { EventData, notificationRequestedV1, Priority } from '@phonegate/contracts';
import {
  type Clock,
  DomainError,
  isDomainError,
  type Logger,
  maskDestination,
} from '@phonegate/platform';
import { type DestinationHasher, normalizeDestination } from '../messages/destination';
import { TERMINAL_STATUSES } from '../messages/message.entity';
import type { AttemptStep, MessageLog, NewMessage } from '../messages/message-log';
import {
  countMessage,
  type MessageOutcome,
  type NotifierMetrics,
  reasonLabel,
} from '../metrics/notifier.metrics';
import type { RenderedMessage, TemplateService } from '../templates/template.service';
import { AcceptedSends } from './accepted-sends';
import type { DestinationResolver } from './destination.resolver';
import type { MessageClaims } from './message-claims';
import type { Acceptance, DedupeVerdict, MessageLocks } from './message-locks';
import type { CarrierTry, MessageSender, SendResult } from './message-sender';

export type NotificationRequest = EventData<typeof notificationRequestedV1>;

export interface DispatchOptions {
  /** Deadline of a message without notAfter, from its request time. */
  ttlMs: Record<Priority, number>;
  /** Back-off between attempts when every carrier failed; the last repeats. */
  retryDelaysMs: readonly number[];
  /** Longest one delivery is held retrying before it goes back to the bus. */
  holdMs: number;
  /**
   * Back-off between in-process tries to write `sent` after a carrier took the message, before
   * the acceptance is kept for the redelivery instead (default `RECORD_RETRY_DELAYS_MS`).
   */
  recordRetryDelaysMs?: readonly number[];
}

/**
 * In-process retries of the `sent` write (≈3 s in all): PostgreSQL blips (a failover, a
 * terminated connection) are mostly shorter.
 */
export const RECORD_RETRY_DELAYS_MS: readonly number[] = [50, 100, 200, 400, 800, 1_600];

/** The `sent` step's reason when a later delivery wrote down what the carrier took before. */
export const RECORDED_LATE =
  'recorded_late: the carrier took it at this time; the message log was unavailable, not sent again';

/** What the per-message metrics say of a message (bounded labels only). */
type MessageKind = Pick<NotificationRequest, 'priority' | 'channel'>;

export interface DispatchMeta {
  /** When the message was asked for (the envelope time). */
  requestedAt: Date;
  /** This is the last delivery the bus will make: give up for good instead of handing it back. */
  lastDelivery: boolean;
  /** Aborted on shutdown: stop waiting and hand the message back to the bus. */
  signal?: AbortSignal;
}

/** Thrown to hand a message back to the bus retry tiers (retryable). */
export class SendLaterError extends DomainError {
  constructor(detail: string) {
    super('service_unavailable', detail, {}, true);
  }
}

/**
 * Sends one requested message: idempotent per message id and dedupeKey,
 * never after its notAfter, retried (in process, then through the bus) while
 * every carrier fails, with each step on the message log's timeline. One
 * delivery at a time works on a message: the Redis lock first, and the message
 * log row's claim (which still holds while Redis is down).
 *
 * A message a carrier took is never sent again because writing `sent` failed (SECURITY M4): the
 * write is retried in process (`recordRetryDelaysMs`); if the message log stays away, the
 * acceptance is kept for the bus's redelivery in the message's Redis record (handed over with
 * its lock, see `MessageLocks.markAccepted`) and in this process (`AcceptedSends`), and the
 * redelivery writes `sent` from it (the step saying it was recorded late) without sending. When
 * Redis cannot take it either, the delivery holds on to it, retrying both, for up to `holdMs`
 * (the bus does not redeliver a message a consumer holds), then hands it back with only this
 * process's note: a redelivery here records it; one on another replica, or after this process
 * died, sends it again, as after a crash mid-send (at least once over losing it).
 */
export class DispatchService {
  constructor(
    private readonly log: MessageLog,
    private readonly resolver: DestinationResolver,
    private readonly templates: TemplateService,
    private readonly sender: MessageSender,
    private readonly hasher: DestinationHasher,
    private readonly clock: Clock,
    private readonly metrics: NotifierMetrics,
    private readonly logger: Logger,
    private readonly locks: MessageLocks,
    private readonly claims: MessageClaims,
    private readonly options: DispatchOptions,
    private readonly accepted: AcceptedSends = new AcceptedSends(clock),
  ) {}

  async dispatch(request: NotificationRequest, meta: DispatchMeta): Promise<void> {
    // The lock and the dedupeKey in one round trip. A key claimed for a message that is then
    // refused stays claimed, as the refused message's row holds it in the log anyway.
    const lock = await this.locks.acquire(request.messageId, request.dedupeKey);
    if (!lock) throw new SendLaterError('another delivery of this message is being worked on');
    try {
      // A carrier took it on an earlier delivery that could not write it down: record, never send.
      const accepted = lock.accepted ?? this.accepted.get(request.messageId);
      if (accepted) await this.recordLate(request, meta, accepted);
      else await this.dispatchLocked(request, meta, lock.dedupe);
    } finally {
      lock.release();
    }
  }

  private async recordLate(
    request: NotificationRequest,
    meta: DispatchMeta,
    accepted: Acceptance,
  ): Promise<void> {
    const id = request.messageId;
    this.logger.info(
      { messageId: id, carrier: accepted.carrier },
      'a carrier took this message on an earlier delivery; recording it, not sending it again',
    );
    const changed = await this.recordAccepted(request, meta, accepted, true);
    this.accepted.forget(id);
    this.locks.forgetAccepted(id);
    if (!changed) {
      this.logger.info({ messageId: id }, 'message already past sending; nothing recorded');
      return;
    }
    this.countMessage(request, 'sent');
    this.observeLatency(request, meta, accepted.at);
    this.logger.info(
      { messageId: id, carrier: accepted.carrier, priority: request.priority },
      'message sent; recorded late',
    );
  }

  private async dispatchLocked(
    request: NotificationRequest,
    meta: DispatchMeta,
    dedupe: DedupeVerdict | undefined,
  ): Promise<void> {
    const id = request.messageId;
    const deadline = request.notAfter
      ? new Date(request.notAfter)
      : new Date(meta.requestedAt.getTime() + this.options.ttlMs[request.priority]);
    const base = this.baseRecord(request, meta);

    // Every refusal below is idempotent: a message already in the log keeps its state.
    if (!this.templates.supports(request.template, request.channel)) {
      await this.drop(base, 'unknown_template');
      this.templates.assertSupported(request.template, request.channel); // throws: the bus parks the message
    }

    const resolution = await this.resolver.resolve(request);
    if (!resolution.ok) {
      await this.drop(base, resolution.reason);
      this.logger.info({ messageId: id, reason: resolution.reason }, 'message refused');
      return;
    }
    const to = normalizeDestination(request.channel, resolution.to);
    const record: NewMessage = {
      ...base,
      destinationMasked: maskDestination(to),
      destinationHash: this.hasher.hash(to),
      ...(resolution.accountId ? { accountId: resolution.accountId } : {}),
    };

    if (dedupe === 'taken') return this.duplicate(request);

    let rendered: RenderedMessage;
    try {
      rendered = this.templates.render({
        template: request.template,
        channel: request.channel,
        locale: request.locale,
        variables: request.variables,
      });
    } catch (error) {
      if (!isDomainError(error)) throw error;
      await this.drop(record, error.code);
      throw error; // not retryable: parked with the reason
    }
    const stored: NewMessage = {
      ...record,
      locale: rendered.locale,
      body: rendered.stored.text,
      ...(rendered.stored.subject !== undefined ? { subject: rendered.stored.subject } : {}),
      segments: rendered.segments,
      encoding: rendered.encoding,
    };

    if (this.clock.now() >= deadline) return void (await this.drop(stored, 'expired'));
    // One statement for the common case: the row goes in already `sending`, first attempt counted.
    const inserted = await this.log.insertSending(stored, this.clock.now());
    if (inserted === 'duplicate') return this.duplicate(request);
    // A redelivery, a retry from the bus, a republish, or a message queued over HTTP: the row is
    // taken only if no other delivery holds it (the insert above was this delivery's claim).
    if (inserted === 'exists' && !(await this.claims.claim(id))) {
      const existing = await this.log.statusOf(id);
      if (!existing || TERMINAL_STATUSES.includes(existing.status)) {
        this.logger.debug({ messageId: id, status: existing?.status }, 'message already handled');
        return;
      }
      this.logger.debug({ messageId: id }, 'message claimed by another delivery; handing it back');
      throw new SendLaterError('another delivery of this message is being worked on');
    }
    const letGo = this.claims.keep(id);
    try {
      await this.sendUntilDone(request, to, rendered, deadline, meta, inserted === 'inserted');
    } finally {
      letGo();
    }
  }

  private async sendUntilDone(
    request: NotificationRequest,
    to: string,
    rendered: RenderedMessage,
    deadline: Date,
    meta: DispatchMeta,
    firstAttemptMarked: boolean,
  ): Promise<void> {
    const id = request.messageId;
    const heldSince = this.clock.nowMs();
    for (let failures = 0; ; failures++) {
      // notAfter is checked before every attempt: a message is never sent late.
      if (this.clock.now() >= deadline)
        return void (await this.finish(id, request, 'dropped', 'expired'));
      const attempt =
        failures === 0 && firstAttemptMarked ? 1 : await this.log.markSending(id, this.clock.now());
      if (attempt === undefined) return; // finished elsewhere meanwhile
      // Again after the write: under load it can take long enough for the deadline to pass.
      if (this.clock.now() >= deadline)
        return void (await this.finish(id, request, 'dropped', 'expired'));
      const result = await this.sender.send({
        messageId: id,
        channel: request.channel,
        to,
        text: rendered.send.text,
        ...(rendered.send.subject !== undefined ? { subject: rendered.send.subject } : {}),
        priority: request.priority,
        notAfter: deadline,
      });
      this.count(request, result);
      if (result.outcome === 'sent') {
        const accepted: Acceptance = {
          carrier: result.carrier,
          providerMessageId: result.providerMessageId,
          at: this.clock.now(),
        };
        if (await this.recordAccepted(request, meta, accepted, false))
          this.countMessage(request, 'sent');
        this.observeLatency(request, meta, accepted.at);
        this.logger.info(
          { messageId: id, carrier: result.carrier, attempt, priority: request.priority },
          'message sent',
        );
        return;
      }
      if (result.outcome === 'rejected') {
        // The carriers this attempt tried or passed over before one refused it for good (the
        // first one down, say) are steps of the timeline too, as in an attempt to be retried.
        const before = result.tried.filter(
          (t) => t.outcome === 'failed' || t.outcome === 'skipped',
        );
        if (before.length > 0)
          await this.log.recordAttemptFailed(
            id,
            this.clock.now(),
            result.reason,
            attemptSteps(result.reason, before),
          );
        await this.finish(id, request, 'failed', result.reason, result.carrier);
        return;
      }
      await this.log.recordAttemptFailed(
        id,
        this.clock.now(),
        result.reason,
        attemptSteps(result.reason, result.tried),
      );
      this.logger.warn(
        { messageId: id, attempt, reason: result.reason },
        'no carrier took the message',
      );
      if (this.clock.nowMs() - heldSince >= this.options.holdMs) {
        if (meta.lastDelivery)
          return void (await this.finish(
            id,
            request,
            'failed',
            `all_carriers_failed: ${result.reason}`,
          ));
        throw new SendLaterError('every carrier failed; handing the message back to the bus');
      }
      const delays = this.options.retryDelaysMs;
      const delay = delays[Math.min(failures, delays.length - 1)] ?? 1_000;
      await sleepUntil(
        Math.min(this.clock.nowMs() + delay, deadline.getTime()),
        this.clock,
        meta.signal,
      );
      if (meta.signal?.aborted)
        throw new SendLaterError('shutting down; handing the message back to the bus');
    }
  }

  /**
   * Writes `sent` for what a carrier took; true when this call changed the row (false: it was
   * already past sending). Retried in process; when the message log stays away, the acceptance
   * is kept for the redelivery (Redis, this process; held on to while Redis is away too, see the
   * class) and the message handed back to the bus: it is never sent again for want of a record.
   */
  private async recordAccepted(
    request: NotificationRequest,
    meta: DispatchMeta,
    accepted: Acceptance,
    late: boolean,
  ): Promise<boolean> {
    const id = request.messageId;
    const write = () =>
      this.log.recordSent(
        id,
        accepted.at,
        accepted.carrier,
        accepted.providerMessageId,
        late ? RECORDED_LATE : undefined,
      );
    const delays = this.options.recordRetryDelaysMs ?? RECORD_RETRY_DELAYS_MS;
    let failure: unknown;
    for (let tries = 0; ; tries++) {
      try {
        return await write();
      } catch (error) {
        failure = error;
      }
      const delay = delays[tries];
      if (delay === undefined || meta.signal?.aborted) break;
      this.logger.warn(
        { messageId: id, carrier: accepted.carrier, err: errorText(failure), tries: tries + 1 },
        'sent not recorded; trying again',
      );
      await sleepUntil(this.clock.nowMs() + delay, this.clock, meta.signal);
    }
    // The message log stays away: keep the acceptance where the redelivery looks first.
    this.accepted.remember(id, accepted);
    if (await this.locks.markAccepted(id, accepted)) {
      this.logger.warn(
        { messageId: id, carrier: accepted.carrier, err: errorText(failure) },
        'sent not recorded; the acceptance is kept for the redelivery to record',
      );
      throw new SendLaterError('sent, but not recorded: the redelivery records it');
    }
    // Neither store takes it: hold on to it (the bus redelivers nothing a consumer holds).
    const holdUntil = accepted.at.getTime() + this.options.holdMs;
    const pause = delays.at(-1) ?? 1_000;
    while (this.clock.nowMs() < holdUntil && !meta.signal?.aborted) {
      await sleepUntil(Math.min(this.clock.nowMs() + pause, holdUntil), this.clock, meta.signal);
      try {
        return await write();
      } catch (error) {
        failure = error;
      }
      if (await this.locks.markAccepted(id, accepted))
        throw new SendLaterError('sent, but not recorded: the redelivery records it');
    }
    this.logger.error(
      { messageId: id, carrier: accepted.carrier, err: errorText(failure) },
      'sent, but recorded neither in the message log nor in Redis; only this process knows',
    );
    throw new SendLaterError('sent, but not recorded anywhere else than in this process');
  }

  private observeLatency(request: NotificationRequest, meta: DispatchMeta, at: Date): void {
    this.metrics.sendLatency.observe(
      { priority: request.priority },
      Math.max(0, at.getTime() - meta.requestedAt.getTime()) / 1000,
    );
  }

  private baseRecord(request: NotificationRequest, meta: DispatchMeta): NewMessage {
    return {
      id: request.messageId,
      ...(request.dedupeKey ? { dedupeKey: request.dedupeKey } : {}),
      priority: request.priority,
      channel: request.channel,
      template: request.template,
      locale: request.locale,
      ...(request.accountId ? { accountId: request.accountId } : {}),
      body: '',
      ...(request.notAfter ? { notAfter: new Date(request.notAfter) } : {}),
      requestedAt: meta.requestedAt,
      ...(request.origin ? { origin: request.origin } : {}),
    };
  }

  /**
   * Another message holds the dedupeKey: this one gets no row of its own (so no status and no
   * `notifier_messages_total`), only the drop counter.
   */
  private duplicate(request: NotificationRequest): void {
    this.metrics.dropped.inc({ reason: 'duplicate', priority: request.priority });
    this.logger.info(
      { messageId: request.messageId },
      'another message holds this dedupeKey; not sent',
    );
  }

  private async drop(record: NewMessage, reason: string): Promise<void> {
    const result = await this.log.insertDropped(record, this.clock.now(), reason);
    if (result === 'inserted') this.countDropped(record, reason);
    else if (result === 'exists') await this.finish(record.id, record, 'dropped', reason);
  }

  /** Counted only when this call changed the row: a redelivery or a duplicate counts nothing. */
  private async finish(
    id: string,
    message: MessageKind,
    status: 'failed' | 'dropped',
    reason: string,
    carrier?: string,
  ): Promise<void> {
    const changed = await this.log.recordFinal(id, this.clock.now(), status, reason, carrier);
    if (!changed) return;
    if (status === 'dropped') this.countDropped(message, reason);
    else this.countMessage(message, 'failed');
    this.logger.info(
      { messageId: id, status, reason: reasonLabel(reason) },
      status === 'dropped' ? 'message dropped' : 'message failed',
    );
  }

  /** A message the log just recorded as dropped: both the per-reason and the per-message counter. */
  private countDropped(message: MessageKind, reason: string): void {
    this.metrics.dropped.inc({ reason: reasonLabel(reason), priority: message.priority });
    this.countMessage(message, 'dropped');
  }

  /** Once per message and status: called only when the message log's status change happened. */
  private countMessage(message: MessageKind, status: MessageOutcome): void {
    countMessage(this.metrics, message, status);
  }

  private count(request: NotificationRequest, result: SendResult): void {
    const labels = (carrier: string, outcome: string) => ({
      carrier,
      channel: request.channel,
      priority: request.priority,
      outcome,
    });
    const tried: CarrierTry[] = result.tried;
    for (const t of tried)
      if (t.outcome !== 'accepted') this.metrics.sends.inc(labels(t.carrier, t.outcome));
    if (result.outcome === 'sent') this.metrics.sends.inc(labels(result.carrier, 'sent'));
    else if (tried.length === 0)
      this.metrics.sends.inc(
        labels('none', result.outcome === 'rejected' ? 'rejected' : 'unavailable'),
      );
  }
}

/**
 * The timeline steps of an attempt no carrier took (retried, so not `failed`): one for each
 * carrier tried or passed over, naming it; one without a carrier when none was.
 */
export function attemptSteps(reason: string, tried: readonly CarrierTry[]): AttemptStep[] {
  const steps = tried
    .filter((t) => t.outcome === 'failed' || t.outcome === 'skipped')
    .map((t) => ({
      carrier: t.carrier,
      reason: `attempt_${t.outcome}: ${t.reason ?? t.outcome}`,
    }));
  return steps.length ? steps : [{ reason: `attempt_failed: ${reason}` }];
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Waits until `untilMs` on the clock, or until the signal aborts. */
function sleepUntil(untilMs: number, clock: Clock, signal?: AbortSignal): Promise<void> {
  const ms = Math.max(0, untilMs - clock.nowMs());
  return new Promise((resolve) => {
    if (signal?.aborted || ms === 0) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
