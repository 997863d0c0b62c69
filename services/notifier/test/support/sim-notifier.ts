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
import { type CarrierOverrides, carriersEnv, freePort, startSim } from './sim';

export type CodeRequest = EventData<typeof notificationRequestedV1> & { to: string };

/**
 * The notifier in this process over the carrier simulator's real protocols (listening, so that
 * HTTP status callbacks reach it), and a publisher on its vhost.
 */
export class SimNotifier {
  private seq = 0;

  private constructor(
    readonly sim: CarrierSim,
    readonly infra: TestInfra,
    readonly notifier: InProcessNotifier,
    readonly publisher: Bus,
    /** The first digits of every number codes are sent to (one test file's own). */
    private readonly numbers: string,
  ) {}

  static async start(options: {
    env?: Record<string, string>;
    carriers?: CarrierOverrides;
    numbers: string;
  }): Promise<SimNotifier> {
    const sim = await startSim();
    const port = await freePort();
    const infra = await createTestInfra({
      PORT: String(port),
      RECEIPT_CALLBACK_BASE_URL: `http://127.0.0.1:${port}`,
      ...options.env,
      ...carriersEnv(sim, options.carriers),
    });
    const notifier = await startNotifier(
      infra,
      ({ config, logger, redis, metrics }) =>
        createCarrierGateway({ config, logger, redis, registry: metrics.registry }),
      {},
      true,
    );
    const publisher = await startPublisher(infra, silentLogger());
    return new SimNotifier(sim, infra, notifier, publisher, options.numbers);
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
    await this.publisher.close();
    await this.notifier.close();
    this.notifier.redis.disconnect(); // when Redis was taken away, quit() could not reach it
    await this.sim.stop();
    await this.infra.drop();
  }
}
