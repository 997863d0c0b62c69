import { randomBytes, randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  accountExistsV1,
  checkChallengeV1,
  type EventContract,
  type EventData,
  getChallengeV1,
  notificationRequestedV1,
  startChallengeV1,
} from '@phonegate/contracts';
import { Bus, decodeEnvelope, SensitiveCipher } from '@phonegate/messaging';
import { createLogger, createServiceApp, DomainError, ManualClock } from '@phonegate/platform';
import {
  createTestDatabase,
  createTestVhost,
  dropRedisPrefix,
  eventually,
  LogCapture,
  redisPrefix,
  TEST_INFRA,
  type TestDatabase,
  type TestVhost,
} from '@phonegate/platform/testing';
import * as amqp from 'amqplib';
import { loadOtpConfig, type OtpConfig } from '../../src/config/otp.config';
import { buildOtpRuntime, type OtpRuntime } from '../../src/runtime';

export const SF = { authorization: 'Bearer sf-test-key' };
export const OPS = { authorization: 'Bearer ops-test-key' };

/** One message the service published, as it sat in the broker (raw) and as the notifier would read it. */
export interface Caught {
  routingKey: string;
  type: string;
  raw: string;
  data: Record<string, unknown>;
}

type NotificationData = EventData<typeof notificationRequestedV1>;

/**
 * Builds the otp service in-process against the real stack: its own
 * PostgreSQL database, RabbitMQ vhost and Redis prefix, a manual clock and a
 * capturing logger. A "notifier" stand-in queue bound to every event keeps
 * what was published (raw and decrypted), and a second bus ("identity") sends
 * commands and events and answers otp's account lookups (`identityHas`).
 */
export class OtpHarness {
  app!: NestFastifyApplication;
  runtime!: OtpRuntime;
  config!: OtpConfig;
  identity!: Bus;
  readonly logs = new LogCapture();
  readonly clock = new ManualClock(Date.UTC(2026, 10, 22, 10, 0, 0));
  readonly caught: Caught[] = [];
  readonly prefix = redisPrefix();
  readonly keys = { bus: randomBytes(32), code: randomBytes(32), secret: randomBytes(32) };
  /**
   * The stand-in identity's answer to `identity.account.exists.v1`: by default it has every
   * account (the tests name made-up ids as accounts); a test of unknown accounts replaces it.
   */
  identityHas: (accountId: string) => boolean | Promise<boolean> = () => true;
  /** The account ids otp asked the stand-in identity about, in order. */
  readonly accountLookups: string[] = [];
  private db!: TestDatabase;
  vhost!: TestVhost;
  private raw!: amqp.ChannelModel;
  private cipher!: SensitiveCipher;
  static readonly TAP_QUEUE = 'test.tap';

  constructor(
    private readonly env: Record<string, string> = {},
    private readonly options: {
      /** The broker URL the service uses, from its vhost's (e.g. through a proxy); the tap and "identity" connect directly. */
      serviceBusUrl?: (vhostUrl: string) => string;
    } = {},
  ) {}

  async start(): Promise<this> {
    [this.db, this.vhost] = await Promise.all([
      createTestDatabase('pg_otp'),
      createTestVhost('t_otp'),
    ]);
    this.config = loadOtpConfig({
      DATABASE_URL: this.db.url,
      REDIS_URL: TEST_INFRA.redisUrl,
      REDIS_KEY_PREFIX: this.prefix,
      RABBITMQ_URL: this.options.serviceBusUrl?.(this.vhost.url) ?? this.vhost.url,
      API_KEYS: 'sf-test-key:storefront,ops-test-key:ops',
      BUS_ENCRYPTION_KEYS: `b1:${this.keys.bus.toString('base64')}`,
      CODE_HMAC_KEYS: `c1:${this.keys.code.toString('base64')}`,
      OTP_SECRET_KEYS: `s1:${this.keys.secret.toString('base64')}`,
      OTP_ORIGIN_HOST: 'shop.example.com',
      OTP_PUBLIC_BASE_URL: 'https://otp.example.com',
      OTP_EXPIRY_SWEEP_INTERVAL: '200ms',
      LOG_LEVEL: 'debug',
      ...this.env,
    });
    this.cipher = new SensitiveCipher({
      keys: { b1: this.keys.bus.toString('base64') },
      activeKeyId: 'b1',
    });

    // The tap stands in for every consumer: it makes events routable and keeps them as stored.
    this.raw = await amqp.connect(this.vhost.url);
    const ch = await this.raw.createChannel();
    await ch.assertExchange('phonegate.events', 'topic', { durable: true });
    await ch.assertQueue(OtpHarness.TAP_QUEUE, { durable: true });
    await ch.bindQueue(OtpHarness.TAP_QUEUE, 'phonegate.events', '#');
    await ch.consume(OtpHarness.TAP_QUEUE, (msg) => {
      if (!msg) return;
      const raw = msg.content.toString('utf8');
      const envelope = decodeEnvelope(msg.content);
      const data = this.cipher.decryptPaths(
        envelope.data,
        envelope.sensitive ?? [],
        envelope.type,
      ) as Record<string, unknown>;
      this.caught.push({ routingKey: msg.fields.routingKey, type: envelope.type, raw, data });
      ch.ack(msg);
    });

    const logger = createLogger({ service: 'otp', level: 'debug', destination: this.logs });
    this.runtime = buildOtpRuntime(this.config, {
      logger,
      clock: this.clock,
      bus: { queueType: 'classic', metrics: false },
    });
    this.app = await createServiceApp({
      name: 'otp',
      module: this.runtime.module,
      logger,
      redis: this.runtime.redis,
      microservices: [this.runtime.bus.server],
      swagger: { title: 'otp', description: 'test' },
    });
    await this.app.startAllMicroservices();
    await this.app.init();
    await this.app.getHttpAdapter().getInstance().ready();

    this.identity = new Bus({
      service: 'identity-test',
      url: this.vhost.url,
      keys: { b1: this.keys.bus.toString('base64') },
      activeKeyId: 'b1',
      logger: createLogger({ service: 'identity-test', level: 'warn', destination: this.logs }),
      metrics: false,
      rpcTimeoutMs: 5000,
    });
    await this.identity.start();
    await this.identity.connection.waitUntilConnected(10_000);
    // The stand-in answers otp's question about an account it has not heard of (as identity does).
    this.identity.server.addHandler(
      accountExistsV1.pattern,
      async (data: unknown) => {
        const { accountId } = data as { accountId: string };
        this.accountLookups.push(accountId);
        return { accountId, exists: await this.identityHas(accountId) };
      },
      false,
    );
    let failed: Error | undefined;
    await this.identity.server.listen((error?: unknown) => {
      if (error) failed = error instanceof Error ? error : new Error('stand-in identity did not start');
    });
    if (failed) throw failed;
    return this;
  }

  async stop(): Promise<void> {
    await this.identity?.close().catch(() => undefined);
    await this.app?.close().catch(() => undefined);
    await this.runtime?.close().catch(() => undefined);
    await this.raw?.close().catch(() => undefined);
    await Promise.all([this.db?.drop(), this.vhost?.drop(), dropRedisPrefix(this.prefix)]);
  }

  inject(
    method: 'GET' | 'POST',
    url: string,
    payload?: unknown,
    headers: Record<string, string> = SF,
  ) {
    return this.app.inject({
      method,
      url,
      headers,
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
  }

  /** Code messages for a challenge, in the order they were published. */
  codeMessages(challengeId: string): NotificationData[] {
    return this.caught
      .filter((c) => c.type === notificationRequestedV1.type)
      .map((c) => c.data as NotificationData)
      .filter((d) => d.origin?.ref === challengeId && d.template.startsWith('otp.'));
  }

  /** Waits for the n-th code message of a challenge and returns it. */
  async codeMessage(challengeId: string, sendNo = 1): Promise<NotificationData> {
    return eventually(
      () =>
        this.codeMessages(challengeId).find((d) => d.dedupeKey === `otp:${challengeId}:${sendNo}`),
      5000,
      10,
    );
  }

  /** The code of the n-th send, as the notifier would decrypt it. */
  async code(challengeId: string, sendNo = 1): Promise<string> {
    return String((await this.codeMessage(challengeId, sendNo)).variables['code']);
  }

  /** The "I didn't ask for this" link of a challenge's first code message. */
  async reportLink(challengeId: string): Promise<URL> {
    return new URL(String((await this.codeMessage(challengeId)).variables['reportUrl']));
  }

  /** A storefront's verification by SMS (over HTTP) naming a new account: its id and code. */
  async shopVerification(
    purpose = 'sign_in',
  ): Promise<{ accountId: string; id: string; code: string }> {
    const accountId = randomUUID();
    const { id, code } = await this.startVerification({
      to: usNumber(),
      channel: 'sms',
      purpose,
      accountId,
    });
    return { accountId, id, code };
  }

  /**
   * identity's sign-in code (over the bus) for a new account, with its reference and report link:
   * a report of the account's own code e-mails its owner.
   */
  async reportableSignIn(): Promise<{
    accountId: string;
    id: string;
    ref: string;
    code: string;
    link: URL;
  }> {
    const accountId = randomUUID();
    const ref = randomUUID();
    const { id } = await this.identity.events.request(startChallengeV1, {
      purpose: 'sign_in',
      channel: 'sms',
      to: usNumber(),
      accountId,
      ref,
    });
    return { accountId, id, ref, code: await this.code(id), link: await this.reportLink(id) };
  }

  /** identity's view of one of its challenges (over the bus). */
  busView(challengeId: string) {
    return this.identity.events.request(getChallengeV1, { challengeId });
  }

  /** identity's check of its sign-in code (over the bus): `approved`, or the refusal's code. */
  busSignInCheck(challenge: { id: string; ref: string }, code: string): Promise<string> {
    return this.identity.events
      .request(checkChallengeV1, {
        challengeId: challenge.id,
        code,
        purpose: 'sign_in',
        ref: challenge.ref,
      })
      .then(
        (view) => view.status,
        (error: unknown) => {
          if (error instanceof DomainError) return error.code;
          throw error;
        },
      );
  }

  events<C extends EventContract>(contract: C): EventData<C>[] {
    return this.caught.filter((c) => c.type === contract.type).map((c) => c.data as EventData<C>);
  }

  alerts(template: string): NotificationData[] {
    return this.caught
      .filter((c) => c.type === notificationRequestedV1.type)
      .map((c) => c.data as NotificationData)
      .filter((d) => d.template === template);
  }

  /** Starts a verification over HTTP and returns its id and code. */
  async startVerification(
    body: Record<string, unknown>,
  ): Promise<{ id: string; code: string; body: Record<string, unknown> }> {
    const res = await this.inject('POST', '/v1/verifications', body);
    if (res.statusCode !== 201) throw new Error(`start answered ${res.statusCode}: ${res.body}`);
    const json = res.json<Record<string, unknown> & { id: string }>();
    return { id: json.id, code: await this.code(json.id), body: json };
  }
}

/**
 * An otp harness started before and stopped after the describe block it is called in.
 */
export function startedOtp(env: Record<string, string> = {}): OtpHarness {
  const h = new OtpHarness(env);
  beforeAll(async () => {
    await h.start();
  }, 60_000);
  afterAll(async () => {
    await h.stop();
  }, 60_000);
  return h;
}

/** The DomainError a bus command (or a use case) was refused with. */
export async function remoteError(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected a remote error');
}

/** The notifier's report that a code message failed (as `notification.failed.v1` carries it). */
export function failureOf(message: NotificationData, challengeId: string) {
  return {
    messageId: message.messageId,
    channel: message.channel,
    carrier: 'smpp-a',
    attempts: 3,
    reason: 'undeliverable',
    origin: { service: 'otp', ref: challengeId },
  };
}

/** A different valid 6-digit code. */
export function wrongCode(code: string): string {
  return code === '000000' ? '000001' : String((Number(code) + 1) % 1_000_000).padStart(6, '0');
}

let counter = 0;
/** Distinct valid US numbers (555-01xx are fictional but valid for libphonenumber) in distinct blocks. */
export function usNumber(): string {
  counter += 1;
  const block = 200 + ((counter * 37 + Number(randomBytes(1)[0])) % 700);
  return `+1415${String(block).padStart(3, '0')}${String((counter * 7919) % 10_000).padStart(4, '0')}`;
}
