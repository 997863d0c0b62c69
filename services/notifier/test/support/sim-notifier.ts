import { randomUUID } from 'node:crypto';
import type { CarrierSim } from '@phonegate/carrier-sim';
import { type EventData, notificationRequestedV1 } from '@phonegate/contracts';
import type { Bus } from '@phonegate/messaging';
import { createCarrierGateway } from '../../src/carrier-health/carrier-gateway.factory';
import {
  createTestInfra,
  type InProcessNotifier,
  OPS,
  publish,
  silentLogger,
  startNotifier,
  startPublisher,
  type TestInfra,
} from './harness';
import { OutcomeListener } from './outcome-listener';
import { type CarrierOverrides, carriersEnv, freePort, startSim } from './sim';

export type CodeRequest = EventData<typeof notificationRequestedV1> & { to: string };

export interface SimNotifierOptions {
  /** Environment of the notifier beyond the infrastructure's and the simulator's carriers. */
  env?: Record<string, string>;
  /** Settings of the simulator's carriers (timeouts, breakers...). */
  carriers?: CarrierOverrides;
  /** SMS_CARRIERS, in order (default: SMPP, then HTTP). */
  smsOrder?: string;
  /** Also listen to the notifier's outcome events (`outcomes`). */
  outcomes?: boolean;
  /** The first digits of every number `code()` sends to (default `+1415550`). */
  numbers?: string;
}

/**
 * The notifier in this process over the carrier simulator's real protocols (listening, so that
 * HTTP status callbacks reach it), a publisher on its vhost and, when asked, a listener to its
 * outcome events: one test file's whole set-up, stopped and dropped by `close()`.
 */
export class SimNotifier {
  private seq = 0;

  private constructor(
    readonly sim: CarrierSim,
    readonly infra: TestInfra,
    readonly notifier: InProcessNotifier,
    readonly publisher: Bus,
    /** The port the notifier listens on (its receipt callbacks' base URL). */
    readonly port: number,
    private readonly listener: OutcomeListener | undefined,
    /** The first digits of every number codes are sent to (one test file's own). */
    private readonly numbers: string,
  ) {}

  static async start(options: SimNotifierOptions = {}): Promise<SimNotifier> {
    const sim = await startSim();
    const port = await freePort();
    const infra = await createTestInfra({
      PORT: String(port),
      RECEIPT_CALLBACK_BASE_URL: `http://127.0.0.1:${port}`,
      ...options.env,
      ...carriersEnv(sim, options.carriers, options.smsOrder),
    });
    const notifier = await startNotifier(
      infra,
      ({ config, logger, redis, metrics }) =>
        createCarrierGateway({ config, logger, redis, registry: metrics.registry }),
      {},
      true,
    );
    const publisher = await startPublisher(infra, silentLogger());
    const listener = options.outcomes ? await OutcomeListener.start(infra.vhost.url) : undefined;
    return new SimNotifier(
      sim,
      infra,
      notifier,
      publisher,
      port,
      listener,
      options.numbers ?? '+1415550',
    );
  }

  /** The notifier's outcome events (started with `outcomes: true`). */
  get outcomes(): OutcomeListener {
    if (!this.listener) throw new Error('SimNotifier started without outcomes: true');
    return this.listener;
  }

  /** A sign-in code for a number of its own, as otp asks for it (not yet published). */
  code(): CodeRequest {
    const n = ++this.seq;
    return {
      messageId: randomUUID(),
      priority: 'critical',
      channel: 'sms',
      to: `${this.numbers}${String(1000 + n).padStart(4, '0')}`,
      template: 'otp.sign_in',
      locale: 'en',
      variables: { code: String(200_000 + n), host: 'shop.example.com' },
      notAfter: new Date(Date.now() + 60_000).toISOString(),
      dedupeKey: `code:${n}:${randomUUID()}`,
      origin: { service: 'otp', ref: `c${n}` },
    };
  }

  /** Publishes it (`envelopeId`: the same event again, as an outbox relay's republish). */
  async publish(message: CodeRequest, envelopeId?: string): Promise<CodeRequest> {
    await publish(
      this.publisher,
      notificationRequestedV1,
      message,
      envelopeId ? { id: envelopeId } : {},
    );
    return message;
  }

  /** The carriers a number's messages reached, newest first. */
  carriersOf(to: string): string[] {
    return this.sim.store.list({ to, limit: 10 }).map((m) => m.carrier);
  }

  /** GET as ops, the JSON answer. */
  async get<T = Record<string, unknown>>(url: string): Promise<T> {
    return (await this.notifier.app.inject({ method: 'GET', url, headers: OPS })).json<T>();
  }

  async statusOf(messageId: string): Promise<string | undefined> {
    return (await this.get<{ status?: string }>(`/v1/messages/${messageId}`)).status;
  }

  async breakerOf(carrierId: string): Promise<string | undefined> {
    const { carriers } = await this.get<{ carriers: { id: string; state: string }[] }>(
      '/v1/carriers',
    );
    return carriers.find((c) => c.id === carrierId)?.state;
  }

  /** The notifier's log lines that name this text (a message id, a carrier...). */
  logLines(text: string): string[] {
    return this.notifier.logs
      .text()
      .split('\n')
      .filter((l) => l.includes(text));
  }

  async close(): Promise<void> {
    await this.listener?.stop();
    await this.publisher.close();
    await this.notifier.close();
    this.notifier.redis.disconnect(); // when Redis was taken away, quit() could not reach it
    await this.sim.stop();
    await this.infra.drop();
  }
}
