import { EventEmitter } from 'node:events';
import * as amqp from 'amqplib';
import type { ChannelModel, SocketOptions } from 'amqplib';
import type { Logger } from 'pino';
import { DEFAULT_RECONNECT, type ReconnectPolicy, reconnectDelay, sleep } from './backoff';
import { BusClosedError, BusError } from './errors';
import { inMemoryBrokerFor } from './in-memory-broker';

export interface ConnectionOptions {
  /** amqp://user:pass@host:5672/vhost */
  url: string;
  /** AMQP heartbeat, 10..20 s (SECURITY M7). Default 15. */
  heartbeatSeconds?: number;
  /** Shown in the management UI and `rabbitmqctl list_connections client_properties`. */
  connectionName?: string;
  reconnect?: Partial<ReconnectPolicy>;
  /** TCP + AMQP handshake timeout of one attempt. Default 10 s. */
  connectTimeoutMs?: number;
  logger: Logger;
  /** Replaces amqplib's connect (unit tests with a fake broker). */
  connect?: (url: string, socketOptions: SocketOptions) => Promise<ChannelModel>;
}

/**
 * Something that lives on the connection (topology, a publisher, a consumer):
 * it is set up after every (re)connect, in registration order, and told when
 * the connection is lost so it can drop its channels and fail or re-queue its
 * in-flight work.
 */
export interface ConnectionParticipant {
  readonly name: string;
  onConnected(connection: ChannelModel): Promise<void>;
  onDisconnected(): void;
}

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'closing' | 'closed';

interface Waiter {
  writable: boolean;
  resolve: () => void;
  reject: (error: Error) => void;
  timer?: NodeJS.Timeout;
}

/**
 * One AMQP connection per process, kept alive: heartbeats, reconnect with
 * exponential back-off and jitter after a drop, participants re-set-up
 * (topology re-declared, consumers resumed, unconfirmed publishes re-sent),
 * `connection.blocked` turned into a wait for publishers (never a crash), and a
 * clean close. Events: `connected`, `disconnected`, `blocked`, `unblocked`, `closed`.
 */
export class ConnectionManager extends EventEmitter {
  private state: ConnectionState = 'idle';
  private current: ChannelModel | undefined;
  private blocked = false;
  private readonly participants: ConnectionParticipant[] = [];
  private readonly abort = new AbortController();
  private waiters: Waiter[] = [];
  private loop: Promise<void> | undefined;
  private lastError: string | undefined;
  private readonly heartbeatSeconds: number;
  private readonly policy: ReconnectPolicy;
  private readonly logger: Logger;

  constructor(private readonly options: ConnectionOptions) {
    super();
    this.heartbeatSeconds = options.heartbeatSeconds ?? 15;
    if (!(this.heartbeatSeconds >= 10 && this.heartbeatSeconds <= 20)) {
      throw new RangeError('heartbeatSeconds must be between 10 and 20 (SECURITY M7)');
    }
    this.policy = { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.logger = options.logger.child({ component: 'bus-connection' });
  }

  get connection(): ChannelModel | undefined {
    return this.state === 'connected' ? this.current : undefined;
  }

  getState(): ConnectionState {
    return this.state;
  }

  isConnected(): boolean {
    return this.state === 'connected';
  }

  isBlocked(): boolean {
    return this.blocked;
  }

  /** Readiness: connected (a blocked connection is still healthy; publishers wait). */
  isHealthy(): boolean {
    return this.state === 'connected';
  }

  /** A health check in the shape of @phonegate/platform's HealthCheck. */
  healthCheck(name = 'rabbitmq'): { name: string; check(): Promise<void> } {
    return {
      name,
      check: async () => {
        if (!this.isHealthy())
          throw new BusError(
            `rabbitmq ${this.state}${this.lastError ? `: ${this.lastError}` : ''}`,
          );
      },
    };
  }

  /** Starts connecting (idempotent); the connection then keeps itself alive until close(). */
  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'connecting';
    this.loop = this.connectLoop();
  }

  /**
   * Adds a participant. If the connection is up it is set up at once (and a
   * failure is thrown to the caller); otherwise on the next connect.
   */
  async register(participant: ConnectionParticipant): Promise<() => void> {
    if (this.state === 'closing' || this.state === 'closed')
      throw new BusClosedError('bus connection');
    this.participants.push(participant);
    const unregister = () => {
      const i = this.participants.indexOf(participant);
      if (i >= 0) this.participants.splice(i, 1);
    };
    if (this.state === 'connected' && this.current) {
      try {
        await participant.onConnected(this.current);
      } catch (error) {
        unregister();
        throw error;
      }
    }
    return unregister;
  }

  /** Resolves when connected (set up); rejects on close or after timeoutMs. */
  waitUntilConnected(timeoutMs?: number): Promise<void> {
    return this.waitFor(false, timeoutMs);
  }

  /** Resolves when connected and not blocked; rejects on close or after timeoutMs. */
  waitUntilWritable(timeoutMs?: number): Promise<void> {
    return this.waitFor(true, timeoutMs);
  }

  private waitFor(writable: boolean, timeoutMs?: number): Promise<void> {
    if (this.state === 'connected' && !(writable && this.blocked)) return Promise.resolve();
    if (this.state === 'closing' || this.state === 'closed')
      return Promise.reject(new BusClosedError('bus connection'));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { writable, resolve, reject };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(
            new BusError(
              `rabbitmq not ${this.state === 'connected' ? 'unblocked' : 'connected'} within ${timeoutMs} ms` +
                (this.lastError ? `: ${this.lastError}` : ''),
            ),
          );
        }, timeoutMs);
        waiter.timer.unref();
      }
      this.waiters.push(waiter);
    });
  }

  /** Stops reconnecting and closes the connection (participants see onDisconnected). */
  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.state = 'closing';
    this.abort.abort();
    await this.loop?.catch(() => undefined);
    const conn = this.current;
    this.current = undefined;
    if (conn) await conn.close().catch(() => undefined);
    this.notifyDisconnected();
    this.state = 'closed';
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.reject(new BusClosedError('bus connection'));
    }
    this.logger.info('bus connection closed');
    this.emit('closed');
  }

  private async connectLoop(): Promise<void> {
    let attempt = 0;
    while (this.state === 'connecting') {
      let conn: ChannelModel | undefined;
      try {
        conn = await this.open();
        if (this.state !== 'connecting') {
          await conn.close().catch(() => undefined);
          return;
        }
        this.current = conn;
        this.blocked = false;
        this.attach(conn);
        // Index loop: participants registered during setup are set up too.
        for (let i = 0; i < this.participants.length; i++) {
          await (this.participants[i] as ConnectionParticipant).onConnected(conn);
          if (this.current !== conn) throw new BusError('connection lost during setup');
        }
        this.state = 'connected';
        this.lastError = undefined;
        this.logger.info({ attempt }, 'bus connected');
        this.emit('connected');
        this.wake();
        return;
      } catch (error) {
        this.lastError = error instanceof Error ? error.message : String(error);
        if (conn && this.current === conn) this.current = undefined;
        if (conn) await conn.close().catch(() => undefined);
        this.notifyDisconnected();
        if (this.state !== 'connecting') return;
        attempt++;
        const delayMs = reconnectDelay(attempt, this.policy);
        this.logger.warn({ attempt, delayMs, err: this.lastError }, 'bus connect failed; retrying');
        await sleep(delayMs, this.abort.signal);
      }
    }
  }

  private open(): Promise<ChannelModel> {
    const url = new URL(this.options.url);
    url.searchParams.set('heartbeat', String(this.heartbeatSeconds));
    const socketOptions: SocketOptions = {
      clientProperties: { connection_name: this.options.connectionName ?? 'phonegate' },
      // An unreachable broker fails the attempt (and the back-off goes on) instead of hanging.
      timeout: this.options.connectTimeoutMs ?? 10_000,
    };
    // `memory://` is the embedded mode's in-process broker (never production).
    if (url.protocol === 'memory:' && !this.options.connect) {
      return inMemoryBrokerFor(this.options.url).connect() as unknown as Promise<ChannelModel>;
    }
    return (this.options.connect ?? amqp.connect)(url.toString(), socketOptions);
  }

  private attach(conn: ChannelModel): void {
    conn.on('error', (error: Error) => {
      this.lastError = error.message;
      this.logger.warn({ err: error.message }, 'bus connection error');
    });
    conn.on('close', () => this.onClose(conn));
    conn.on('blocked', (reason: string) => {
      if (this.current !== conn) return;
      this.blocked = true;
      this.logger.warn({ reason }, 'bus connection blocked by the broker; publishers wait');
      this.emit('blocked', reason);
    });
    conn.on('unblocked', () => {
      if (this.current !== conn) return;
      this.blocked = false;
      this.logger.info('bus connection unblocked');
      this.emit('unblocked');
      this.wake();
    });
  }

  private onClose(conn: ChannelModel): void {
    if (this.current !== conn) return;
    this.current = undefined;
    this.blocked = false;
    if (this.state !== 'connected') return; // closing, or lost during setup (the loop handles it)
    this.state = 'connecting';
    this.logger.warn({ err: this.lastError }, 'bus connection lost; reconnecting');
    this.notifyDisconnected();
    this.emit('disconnected', this.lastError);
    this.loop = this.connectLoop();
  }

  private notifyDisconnected(): void {
    for (const p of [...this.participants]) {
      try {
        p.onDisconnected();
      } catch (error) {
        this.logger.error(
          { err: error, participant: p.name },
          'bus participant failed on disconnect',
        );
      }
    }
  }

  private wake(): void {
    if (this.state !== 'connected') return;
    const ready = this.waiters.filter((w) => !(w.writable && this.blocked));
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) {
      clearTimeout(w.timer);
      w.resolve();
    }
  }
}
