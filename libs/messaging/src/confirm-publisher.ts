import { randomBytes } from 'node:crypto';
import type { ChannelModel, ConfirmChannel, Message, Options } from 'amqplib';
import type { Logger } from 'pino';
import type { ConnectionManager, ConnectionParticipant } from './connection';
import { BusClosedError, BusUnavailableError, PublisherOverloadedError, PublishTimeoutError } from './errors';
import { Fifo } from './fifo';
import { type BusMetrics, NO_METRICS } from './metrics';

export interface ConfirmPublisherOptions {
  logger: Logger;
  /** Exchanges asserted on every (re)connect before publishing: name → type. */
  exchanges: Readonly<Record<string, 'topic' | 'direct' | 'fanout'>>;
  /** A publish not confirmed by then is rejected. Default 30 s. */
  timeoutMs?: number;
  /** Unconfirmed messages on the wire at once (pipelining bound). Default 2000. */
  maxInFlight?: number;
  /** Messages accepted and not yet confirmed, beyond which publish() fails at once (memory bound during an outage). Default 100,000. */
  maxPending?: number;
  /** What a `mandatory` return (no queue bound) does: retry until the timeout (default) or resolve. */
  unroutable?: 'retry' | 'drop';
  /**
   * Once the connection has been down this long, publish() fails at once with
   * BusUnavailableError, and messages waiting in line that never went out fail too: in a broker
   * outage a request answers 503 now instead of after `timeoutMs` (every code request held 5 s
   * in the crash drills). A shorter drop (a reconnect) is ridden out as before; messages that
   * were on the wire when it dropped keep their deadline (the broker may have them). Default
   * 2 s; Infinity turns it off.
   */
  disconnectedGraceMs?: number;
  metrics?: BusMetrics;
}

type JobState = 'queued' | 'inflight' | 'waiting' | 'settled';

interface Job {
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: Options.Publish;
  /** Unique per publish (the key of `inflight`). */
  tag: string;
  /** What a `basic.return` is matched on: the messageId, or a tag header when there is none. */
  returnKey: string;
  deadline: number;
  timeoutMs: number;
  state: JobState;
  gen: number;
  returned: boolean;
  failures: number;
  lastFailure?: string;
  /** Per message: what a `mandatory` return does (overrides the publisher's default). */
  unroutable?: 'retry' | 'drop';
  timer?: NodeJS.Timeout;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Header that lets a `basic.return` be matched to a publish that has no messageId. */
const TAG_HEADER = 'x-pub';

/**
 * Publishes with publisher confirms on one confirm channel, many messages in
 * flight at once (SECURITY M1). A publish resolves only on the broker's ack; a
 * nack, a `mandatory` return or a lost channel/connection puts the message back
 * in line to be re-sent (after the reconnect), until its deadline, after which
 * it is rejected with PublishTimeoutError. While the connection is blocked by
 * the broker, messages wait in memory (bounded by their deadline).
 */
export class ConfirmPublisher implements ConnectionParticipant {
  readonly name = 'publisher';
  private channel: ConfirmChannel | undefined;
  private gen = 0;
  private readonly retryQueue = new Fifo<Job>();
  private readonly queue = new Fifo<Job>();
  private readonly inflight = new Map<string, Job>();
  private readonly waiting = new Set<Job>();
  private awaitingDrain = false;
  private closed = false;
  private sweeper: NodeJS.Timeout | undefined;
  private unregister: (() => void) | undefined;
  private readonly tagPrefix = randomBytes(6).toString('base64url');
  private seq = 0;
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly metrics: BusMetrics;
  /** Routing keys already reported as unroutable (warned once each). */
  private readonly droppedKeys = new Set<string>();
  private readonly logger: Logger;
  private idleWaiters: (() => void)[] = [];
  /** Messages put back in line since the last report (nack, lost channel or connection). */
  private requeued = 0;
  private readonly onUnblocked = () => this.flush();
  /** When the connection was lost (undefined while connected, and before the first connect). */
  private downSince: number | undefined;
  private readonly graceMs: number;

  constructor(
    private readonly connection: ConnectionManager,
    private readonly options: ConfirmPublisherOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.graceMs = options.disconnectedGraceMs ?? 2_000;
    this.maxInFlight = options.maxInFlight ?? 2_000;
    this.metrics = options.metrics ?? NO_METRICS;
    this.logger = options.logger.child({ component: 'bus-publisher' });
  }

  async start(): Promise<void> {
    if (this.unregister || this.closed) return;
    this.connection.on('unblocked', this.onUnblocked);
    this.sweeper = setInterval(() => this.sweep(), 200);
    this.sweeper.unref();
    this.unregister = await this.connection.register(this);
  }

  /** Messages accepted but not yet confirmed (queued, waiting or on the wire). */
  get pending(): number {
    return this.queue.length + this.retryQueue.length + this.inflight.size + this.waiting.size;
  }

  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish = {},
    timeoutMs = this.timeoutMs,
    unroutable?: 'retry' | 'drop',
  ): Promise<void> {
    if (this.closed) return Promise.reject(new BusClosedError('publisher'));
    const downFor = this.downFor();
    if (downFor !== undefined) {
      this.metrics.publishFailed(exchange, 'unavailable');
      return Promise.reject(new BusUnavailableError(downFor));
    }
    if (this.pending >= (this.options.maxPending ?? 100_000)) {
      this.metrics.publishFailed(exchange, 'overloaded');
      return Promise.reject(new PublisherOverloadedError(this.pending));
    }
    return new Promise<void>((resolve, reject) => {
      const tag = `${this.tagPrefix}.${(this.seq++).toString(36)}`;
      // Events carry a unique messageId (their envelope id): returns are matched on
      // it, and no extra header goes on the wire.
      const returnKey = options.messageId ?? tag;
      const job: Job = {
        exchange,
        routingKey,
        content,
        options: options.messageId
          ? options
          : {
              ...options,
              headers: { ...(options.headers as Record<string, unknown>), [TAG_HEADER]: tag },
            },
        tag,
        returnKey,
        deadline: Date.now() + timeoutMs,
        timeoutMs,
        ...(unroutable ? { unroutable } : {}),
        state: 'queued',
        gen: -1,
        returned: false,
        failures: 0,
        resolve,
        reject,
      };
      this.queue.push(job);
      this.flush();
    });
  }

  async onConnected(conn: ChannelModel): Promise<void> {
    await this.openChannel(conn);
  }

  onDisconnected(): void {
    this.downSince ??= Date.now();
    this.channel = undefined;
    this.requeueInflight('connection lost');
  }

  /**
   * Stops taking messages, waits (at most `timeoutMs`) for those in flight to
   * be confirmed, then fails the rest and closes the channel.
   */
  async close(timeoutMs = 5_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pending > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    clearInterval(this.sweeper);
    this.connection.off('unblocked', this.onUnblocked);
    this.unregister?.();
    const error = new BusClosedError('publisher');
    for (const job of [
      ...this.retryQueue,
      ...this.queue,
      ...this.inflight.values(),
      ...this.waiting,
    ])
      this.fail(job, error);
    this.inflight.clear();
    this.waiting.clear();
    this.queue.removeWhere(() => true);
    this.retryQueue.removeWhere(() => true);
    const ch = this.channel;
    this.channel = undefined;
    await ch?.close().catch(() => undefined);
  }

  private async openChannel(conn: ChannelModel): Promise<void> {
    const ch = await conn.createConfirmChannel();
    try {
      for (const [name, type] of Object.entries(this.options.exchanges)) {
        await ch.assertExchange(name, type, { durable: true });
      }
    } catch (error) {
      await ch.close().catch(() => undefined);
      throw error;
    }
    ch.on('error', (error: Error) =>
      this.logger.warn({ err: error.message }, 'publisher channel error'),
    );
    ch.on('return', (msg: Message) => this.onReturn(msg));
    ch.on('drain', () => {
      if (this.channel !== ch) return;
      this.awaitingDrain = false;
      this.flush();
    });
    ch.on('close', () => this.onChannelClosed(ch, conn));
    this.channel = ch;
    this.downSince = undefined;
    this.gen++;
    this.awaitingDrain = false;
    if (this.requeued > 0) {
      this.logger.warn({ count: this.requeued }, 'unconfirmed publishes will be re-sent');
      this.requeued = 0;
    }
    this.flush();
  }

  private onChannelClosed(ch: ConfirmChannel, conn: ChannelModel): void {
    if (this.channel !== ch) return;
    this.channel = undefined;
    this.requeueInflight('channel closed');
    if (this.closed) return;
    // The connection may still be up (a channel-level error): open another.
    const retry = (delayMs: number) =>
      setTimeout(() => {
        if (this.closed || this.channel || this.connection.connection !== conn) return;
        this.openChannel(conn).catch((error: unknown) => {
          this.logger.warn({ err: (error as Error).message }, 'publisher channel reopen failed');
          retry(Math.min(delayMs * 2, 5_000));
        });
      }, delayMs).unref();
    retry(50);
  }

  private requeueInflight(reason: string): void {
    if (this.inflight.size === 0) return;
    for (const job of this.inflight.values()) {
      job.state = 'queued';
      job.failures++;
      job.lastFailure = reason;
      this.retryQueue.push(job);
      this.metrics.republished(job.exchange);
    }
    this.requeued += this.inflight.size;
    this.inflight.clear();
  }

  private flush(): void {
    const ch = this.channel;
    if (!ch || this.awaitingDrain || this.connection.isBlocked()) return;
    const gen = this.gen;
    while (this.inflight.size < this.maxInFlight) {
      const job = this.retryQueue.shift() ?? this.queue.shift();
      if (!job) break;
      if (job.state !== 'queued') continue;
      if (Date.now() > job.deadline) {
        this.timeout(job);
        continue;
      }
      job.state = 'inflight';
      job.gen = gen;
      job.returned = false;
      this.inflight.set(job.tag, job);
      let ok: boolean;
      try {
        ok = ch.publish(job.exchange, job.routingKey, job.content, job.options, (err: unknown) =>
          this.onConfirm(job, gen, err),
        );
      } catch (error) {
        this.inflight.delete(job.tag);
        if (error instanceof RangeError) {
          this.fail(job, error); // e.g. headers too large: re-sending cannot help
          continue;
        }
        job.state = 'queued';
        this.retryQueue.unshift(job);
        return; // the channel is closing; it will be replaced
      }
      if (!ok) {
        this.awaitingDrain = true;
        return;
      }
    }
    this.checkIdle();
  }

  private onConfirm(job: Job, gen: number, err: unknown): void {
    if (job.state !== 'inflight' || job.gen !== gen) return; // stale: re-sent or settled meanwhile
    this.inflight.delete(job.tag);
    if (!err && !job.returned) {
      job.state = 'settled';
      this.metrics.published(job.exchange);
      job.resolve();
      this.flush();
      return;
    }
    job.failures++;
    if (err) {
      job.lastFailure = err instanceof Error ? err.message : 'nacked by the broker';
      job.state = 'queued';
      this.retryQueue.push(job);
      this.requeued++;
      this.metrics.republished(job.exchange);
    } else {
      job.lastFailure = `unroutable: no queue bound to ${job.routingKey} on ${job.exchange || '(default)'}`;
      if ((job.unroutable ?? this.options.unroutable) === 'drop') {
        // Events nobody subscribes to yet are normal (the catalogue is ahead of its
        // consumers): said once per routing key, not once per event on a sale day.
        const first = !this.droppedKeys.has(job.routingKey);
        if (first && this.droppedKeys.size < 1_000) this.droppedKeys.add(job.routingKey);
        this.logger[first ? 'warn' : 'debug'](
          { exchange: job.exchange, routingKey: job.routingKey },
          first
            ? 'unroutable message dropped (no queue is bound; further ones at debug)'
            : 'unroutable message dropped',
        );
        job.state = 'settled';
        job.resolve();
      } else {
        this.wait(job, Math.min(50 * 2 ** Math.min(job.failures, 6), 2_000));
      }
    }
    this.flush();
  }

  private onReturn(msg: Message): void {
    const header: unknown = msg.properties.headers?.[TAG_HEADER];
    const key =
      typeof header === 'string' ? header : (msg.properties.messageId as string | undefined);
    if (!key) return;
    // The same message (same id, same routing key) may be in flight twice (an
    // outbox row re-sent): a return applies to every copy, they route alike.
    for (const job of this.inflight.values()) {
      if (job.returnKey === key && job.routingKey === msg.fields.routingKey) job.returned = true;
    }
  }

  private wait(job: Job, delayMs: number): void {
    job.state = 'waiting';
    this.waiting.add(job);
    job.timer = setTimeout(() => {
      this.waiting.delete(job);
      if (job.state !== 'waiting') return;
      job.state = 'queued';
      this.retryQueue.push(job);
      this.flush();
    }, delayMs);
    job.timer.unref();
  }

  /** How long the connection has been down, once that is past the grace (else undefined). */
  private downFor(): number | undefined {
    if (this.downSince === undefined) return undefined;
    const ms = Date.now() - this.downSince;
    return ms >= this.graceMs ? ms : undefined;
  }

  private sweep(): void {
    const downFor = this.downFor();
    if (downFor !== undefined && this.queue.length > 0) {
      // Never sent: nothing of them can be at the broker, so they fail now, not at their deadline.
      this.queue.removeWhere((job) => {
        this.metrics.publishFailed(job.exchange, 'unavailable');
        this.fail(job, new BusUnavailableError(downFor));
        return true;
      });
    }
    const now = Date.now();
    const expired = (job: Job) => job.state !== 'settled' && now > job.deadline;
    for (const job of this.inflight.values()) {
      if (expired(job)) {
        this.inflight.delete(job.tag);
        this.timeout(job);
      }
    }
    for (const job of this.waiting) {
      if (expired(job)) {
        this.waiting.delete(job);
        this.timeout(job);
      }
    }
    if (!this.channel || this.awaitingDrain || this.connection.isBlocked()) {
      // Nothing drains the queues now: reject what has run out of time.
      for (const q of [this.queue, this.retryQueue]) {
        if (q.length === 0) continue;
        let any = false;
        for (const job of q) if (expired(job)) any = true;
        if (!any) continue;
        q.removeWhere((job) => {
          if (!expired(job)) return false;
          this.timeout(job);
          return true;
        });
      }
    }
    this.checkIdle();
  }

  private timeout(job: Job): void {
    this.metrics.publishFailed(job.exchange, 'timeout');
    this.fail(job, new PublishTimeoutError(job.routingKey, job.timeoutMs, job.lastFailure));
  }

  private fail(job: Job, error: Error): void {
    if (job.state === 'settled') return;
    job.state = 'settled';
    clearTimeout(job.timer);
    job.reject(error);
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0 || this.pending > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
