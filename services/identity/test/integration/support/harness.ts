/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument --
   a test helper reading JSON answers, like the specs that use it */
/**
 * One identity service in-process (listening on a real port, so tests talk
 * HTTP), the otp service as a real process (`node services/otp/dist/main.js`),
 * and a tap on the bus that reads what the notifier would send, decrypting
 * `variables.code` with the bus key, as a person reading the SMS would. Every
 * file gets its own database(s), vhost and Redis prefixes.
 */
import { freePort } from '@phonegate/stack';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as amqp from 'amqplib';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { type Envelope, getFactorsV1 } from '@phonegate/contracts';
import { Bus, EventBus, SensitiveCipher } from '@phonegate/messaging';
import { createLogger, createRedis, createServiceApp, redisReady } from '@phonegate/platform';
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
import type { Redis } from 'ioredis';
import { parsePhoneNumberWithError } from 'libphonenumber-js/max';
import { IdentityAppModule } from '../../../src/app.module';
import { type IdentityConfig, loadIdentityConfig } from '../../../src/config/identity.config';
import { postgresOptions } from '../../../src/database.module';
import { Argon2PasswordHasher, type PasswordHasher } from '../../../src/security/password-hasher';

export const ROOT = join(__dirname, '../../../../..');
export const API_KEY = 'sf-test-key';
export const OPS_ONLY_KEY = 'ops-test-key';

/** A PasswordHasher that counts calls (the unknown-e-mail path must hash too). */
export class CountingHasher implements PasswordHasher {
  hashes = 0;
  verifies = 0;
  constructor(private readonly inner: PasswordHasher) {}
  hash(password: string) {
    this.hashes++;
    return this.inner.hash(password);
  }
  verify(digest: string, password: string) {
    this.verifies++;
    return this.inner.verify(digest, password);
  }
  needsRehash(digest: string) {
    return this.inner.needsRehash(digest);
  }
}

export interface Tapped {
  routingKey: string;
  envelope: Envelope;
  data: Record<string, unknown>;
  at: number;
}

/** Reads every event of the test vhost's exchange that matches the bindings, decrypted. */
export class BusTap {
  readonly messages: Tapped[] = [];
  private conn: amqp.ChannelModel | undefined;

  constructor(
    private readonly url: string,
    private readonly cipher: SensitiveCipher,
  ) {}

  async start(bindings: string[]): Promise<void> {
    this.conn = await amqp.connect(this.url);
    const ch = await this.conn.createChannel();
    await ch.assertExchange('phonegate.events', 'topic', { durable: true });
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    for (const b of bindings) await ch.bindQueue(queue, 'phonegate.events', b);
    await ch.consume(
      queue,
      (msg) => {
        if (!msg) return;
        const envelope = JSON.parse(msg.content.toString('utf8')) as Envelope;
        const data = this.cipher.decryptPaths(envelope.data, envelope.sensitive ?? [], envelope.type) as Record<string, unknown>;
        this.messages.push({ routingKey: msg.fields.routingKey, envelope, data, at: Date.now() });
      },
      { noAck: true },
    );
  }

  /** Raw envelopes as they travel (sensitive fields encrypted). */
  raw(): string {
    return this.messages.map((m) => JSON.stringify(m.envelope)).join('\n');
  }

  of(type: string): Tapped[] {
    return this.messages.filter((m) => m.envelope.type === type);
  }

  /** Waits for a message matching `pred` that arrived after `since`. */
  async waitFor(pred: (m: Tapped) => boolean, since = 0, timeoutMs = 10_000): Promise<Tapped> {
    return eventually(() => [...this.messages].reverse().find((m) => m.at >= since && pred(m)), timeoutMs, 25);
  }

  async close(): Promise<void> {
    await this.conn?.close().catch(() => undefined);
  }
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: any;
}

export interface HarnessOptions {
  /** Extra identity variables (over the test defaults). */
  identityEnv?: Record<string, string>;
  otpEnv?: Record<string, string>;
}

export class Harness {
  base = '';
  app!: NestFastifyApplication;
  config!: IdentityConfig;
  hasher!: CountingHasher;
  tap!: BusTap;
  readonly logs = new LogCapture();
  readonly otpOutput: string[] = [];
  /** Everything that must never reach a log line: numbers, codes, passwords, tokens. */
  readonly secrets = new Set<string>();
  otp: ChildProcess | undefined;
  /** The otp process's own HTTP API (TOTP enrolment, backup codes). */
  otpBase = '';
  private db!: TestDatabase;
  private otpDb!: TestDatabase;
  private vhost!: TestVhost;
  private redis!: Redis;
  private readonly prefix = redisPrefix();
  private readonly otpPrefix = redisPrefix();
  private readonly busKey = randomBytes(32).toString('base64');
  private otpEnv: Record<string, string> = {};
  private cipher!: SensitiveCipher;

  async start(options: HarnessOptions = {}): Promise<this> {
    const otpMain = join(ROOT, 'services/otp/dist/main.js');
    if (!existsSync(otpMain)) throw new Error('services/otp/dist/main.js is missing: run `npm run build` first');
    [this.db, this.otpDb, this.vhost] = await Promise.all([
      createTestDatabase('pg_identity'),
      createTestDatabase('pg_identity_otp'),
      createTestVhost('t_identity'),
    ]);
    this.cipher = new SensitiveCipher({ keys: { t1: this.busKey }, activeKeyId: 't1' });
    this.tap = new BusTap(this.vhost.url, this.cipher);
    // otp.# too: the otp service waits for its challenge events to be routable (someone binds them in production).
    await this.tap.start(['notification.requested.v1.#', 'identity.#', 'otp.#']);
    this.otpEnv = options.otpEnv ?? {};
    await this.startOtp(this.otpEnv);

    this.config = loadIdentityConfig({
      NODE_ENV: 'test',
      DATABASE_URL: this.db.url,
      REDIS_URL: TEST_INFRA.redisUrl,
      REDIS_KEY_PREFIX: this.prefix,
      RABBITMQ_URL: this.vhost.url,
      API_KEYS: `${API_KEY}:storefront,${OPS_ONLY_KEY}:ops`,
      BUS_ENCRYPTION_KEYS: `t1:${this.busKey}`,
      ...options.identityEnv,
    });
    const logger = createLogger({ service: 'identity', level: 'info', destination: this.logs });
    this.redis = createRedis({ url: TEST_INFRA.redisUrl, keyPrefix: this.prefix });
    await redisReady(this.redis);
    this.hasher = new CountingHasher(
      new Argon2PasswordHasher({
        memoryKib: this.config.IDENTITY_ARGON2_MEMORY_KIB,
        timeCost: this.config.IDENTITY_ARGON2_TIME_COST,
        parallelism: this.config.IDENTITY_ARGON2_PARALLELISM,
      }),
    );
    const module = IdentityAppModule.forRoot({
      config: this.config,
      logger,
      redis: this.redis,
      database: postgresOptions(this.db.url, 5),
      passwordHasher: this.hasher,
      bus: {
        service: 'identity',
        url: this.vhost.url,
        keys: { t1: this.busKey },
        activeKeyId: 't1',
        logger,
        unroutable: 'drop',
        metrics: false,
        rpcTimeoutMs: this.config.IDENTITY_OTP_TIMEOUT,
      },
    });
    this.app = await createServiceApp({ name: 'identity', module, logger, redis: this.redis, swagger: { title: 'identity', description: 'test' } });
    // identity answers commands too (identity.account.exists.v1, asked by the otp process), as service.ts connects them.
    this.app.connectMicroservice({ strategy: this.app.get(Bus).server }, { inheritAppConfig: true });
    await this.app.startAllMicroservices();
    await this.app.listen({ port: 0, host: '127.0.0.1' });
    const address = this.app.getHttpAdapter().getInstance().server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    this.base = `http://127.0.0.1:${address.port}`;
    await this.otpAnswers();
    return this;
  }

  /** The otp process is up when it answers a command on the bus. */
  private async otpAnswers(): Promise<void> {
    const bus = this.app.get(EventBus);
    await eventually(async () => bus.request(getFactorsV1, { accountId: '00000000-0000-4000-8000-000000000000' }, { timeoutMs: 1_000 }), 30_000, 200);
  }

  private async startOtp(extra: Record<string, string>): Promise<void> {
    const port = await freePort();
    this.otpBase = `http://127.0.0.1:${port}`;
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '',
      NODE_ENV: 'test',
      PORT: String(port),
      API_KEYS: `${API_KEY}:storefront`,
      LOG_LEVEL: 'info',
      DATABASE_URL: this.otpDb.url,
      REDIS_URL: TEST_INFRA.redisUrl,
      REDIS_KEY_PREFIX: this.otpPrefix,
      RABBITMQ_URL: this.vhost.url,
      BUS_ENCRYPTION_KEYS: `t1:${this.busKey}`,
      OTP_RESEND_COOLDOWN: '1s',
      OTP_LIMIT_IP: '1000/15m',
      OTP_LIMIT_ACCOUNT: '100/15m',
      OTP_PUMP_ADJACENT_THRESHOLD: '1000',
      OTP_PUMP_RATIO_MIN_SENDS: '1000000',
      OTP_EXPIRY_SWEEP_INTERVAL: '1s',
      ...extra,
    };
    const child = spawn(process.execPath, [join(ROOT, 'services/otp/dist/main.js')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line) this.otpOutput.push(line);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.otp = child;
    const from = this.otpOutput.length;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`otp did not start:\n${this.otpOutput.slice(-20).join('\n')}`)), 30_000);
      const check = () => {
        if (this.otpOutput.slice(from).some((l) => l.includes('otp listening'))) {
          clearTimeout(timer);
          resolve();
        } else setTimeout(check, 50);
      };
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`otp exited with ${code}:\n${this.otpOutput.slice(-20).join('\n')}`));
      });
      check();
    });
    child.removeAllListeners('exit');
  }

  /** Stops the otp process (SIGKILL: a dead peer, not a graceful one). */
  async killOtp(): Promise<void> {
    const child = this.otp;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** Starts the otp process again after `killOtp` (its database, Redis prefix and vhost kept), once it answers on the bus. */
  async startOtpAgain(): Promise<void> {
    await this.startOtp(this.otpEnv);
    await this.otpAnswers();
  }

  /** A call to the otp process's own HTTP API. */
  otpCall(method: string, path: string, body?: unknown): Promise<HttpAnswer> {
    return this.call(method, path, body, {}, this.otpBase);
  }

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, base = this.base): Promise<HttpAnswer> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    if (parsed && typeof parsed === 'object' && 'sessionToken' in parsed) this.secrets.add(String((parsed as { sessionToken: string }).sessionToken));
    return { status: res.status, headers: res.headers, body: parsed };
  }

  /** The code of the latest message sent for a challenge (as the person would read it). */
  async codeFor(challengeId: string, since = 0): Promise<string> {
    const m = await this.tap.waitFor(
      (t) => t.envelope.type === 'notification.requested.v1' && (t.data['origin'] as { ref?: string } | undefined)?.ref === challengeId && hasCode(t),
      since,
    );
    return this.keep(String((m.data['variables'] as { code: unknown }).code));
  }

  /** The code of the latest message to a destination (when the challenge id is not known, e.g. password reset). */
  async codeTo(to: string, since = 0, template?: string): Promise<string> {
    const m = await this.tap.waitFor(
      (t) => t.envelope.type === 'notification.requested.v1' && t.data['to'] === to && hasCode(t) && (!template || t.data['template'] === template),
      since,
    );
    return this.keep(String((m.data['variables'] as { code: unknown }).code));
  }

  /** Reports the latest code of a challenge through the link in its message, as the owner would ("I didn't ask for this"). */
  async reportCode(challengeId: string): Promise<HttpAnswer> {
    const message = await this.tap.waitFor(
      (t) => t.envelope.type === 'notification.requested.v1' && (t.data['origin'] as { ref?: string } | undefined)?.ref === challengeId,
    );
    const link = new URL(String((message.data['variables'] as { reportUrl: unknown }).reportUrl));
    this.keep(link.searchParams.get('t') ?? '');
    return this.otpCall('POST', `${link.pathname}${link.search}`, {});
  }

  /** Security alerts (identity's e-mails) to an address. */
  alerts(email: string, template?: string): Tapped[] {
    return this.tap
      .of('notification.requested.v1')
      .filter((t) => t.envelope.source === 'identity' && t.data['to'] === email && (!template || t.data['template'] === template));
  }

  keep<T extends string>(secret: T): T {
    this.secrets.add(secret);
    return secret;
  }

  /** A fresh, valid US number (random, so no two tests or runs share one). */
  phone(): string {
    for (;;) {
      const area = 200 + Math.floor(Math.random() * 790);
      const exchange = 200 + Math.floor(Math.random() * 790);
      const line = String(Math.floor(Math.random() * 10_000)).padStart(4, '0');
      const text = `+1${area}${exchange}${line}`;
      try {
        const n = parsePhoneNumberWithError(text);
        if (n.isValid() && ['MOBILE', 'FIXED_LINE_OR_MOBILE'].includes(n.getType() ?? '')) {
          this.secrets.add(text);
          this.secrets.add(text.slice(1));
          return text;
        }
      } catch {
        /* try another */
      }
    }
  }

  /** A fresh London fixed line (voice only). */
  fixedLine(): string {
    for (;;) {
      const text = `+44207${String(Math.floor(Math.random() * 10_000_000)).padStart(7, '0')}`;
      const n = parsePhoneNumberWithError(text);
      if (n.isValid() && n.getType() === 'FIXED_LINE') {
        this.secrets.add(text);
        return text;
      }
    }
  }

  email(): string {
    return `u${randomBytes(5).toString('hex')}@example.com`;
  }

  password(): string {
    return this.keep(`pw-${randomBytes(9).toString('base64url')}`);
  }

  /** An account, returned with its id, e-mail and password. */
  async account(): Promise<{ id: string; email: string; password: string }> {
    const email = this.email();
    const password = this.password();
    const res = await this.call('POST', '/v1/accounts', { email, password });
    if (res.status !== 201) throw new Error(`account: ${res.status} ${JSON.stringify(res.body)}`);
    return { id: res.body.id, email, password };
  }

  /** Enrols and confirms a TOTP authenticator through the otp service; returns its base32 secret. */
  async authenticator(accountId: string): Promise<string> {
    const started = await this.otpCall('POST', `/v1/accounts/${accountId}/authenticators/totp`, {});
    if (started.status !== 201) throw new Error(`totp: ${started.status} ${JSON.stringify(started.body)}`);
    const secret = this.keep(String(started.body.secret));
    const confirmed = await this.otpCall('POST', `/v1/accounts/${accountId}/authenticators/totp/${started.body.id}/confirm`, {
      code: this.keep(totp(secret)),
    });
    if (confirmed.status !== 200) throw new Error(`totp confirm: ${confirmed.status} ${JSON.stringify(confirmed.body)}`);
    return secret;
  }

  /** Adds and verifies a number; returns its phoneId. */
  async verifiedPhone(accountId: string, number = this.phone()): Promise<{ phoneId: string; number: string; primary: boolean }> {
    const added = await this.call('POST', `/v1/accounts/${accountId}/phones`, { number });
    if (added.status !== 202) throw new Error(`add: ${added.status} ${JSON.stringify(added.body)}`);
    const code = await this.codeFor(added.body.verification.challengeId);
    const verified = await this.call('POST', `/v1/accounts/${accountId}/phones/${added.body.phoneId}/verify`, { code });
    if (verified.status !== 200) throw new Error(`verify: ${verified.status} ${JSON.stringify(verified.body)}`);
    return { phoneId: added.body.phoneId, number, primary: verified.body.primary };
  }

  /** Turns two-step on with a method (and a backup); expects 200. */
  async twoStep(accountId: string, settings: { method: 'sms' | 'voice' | 'totp'; backupMethod?: 'sms' | 'voice' | 'email' | 'totp' }): Promise<void> {
    const res = await this.call('PUT', `/v1/accounts/${accountId}/two-step`, { enabled: true, ...settings });
    if (res.status !== 200) throw new Error(`two-step: ${res.status} ${JSON.stringify(res.body)}`);
  }

  /**
   * Starts a step-up (a code by `channel`, or by the account's first factor) and approves it
   * with its code, as the person would; returns its stepUpId, good for one sensitive change.
   */
  async stepUp(accountId: string, channel?: 'sms' | 'voice' | 'email'): Promise<string> {
    const started = await this.call('POST', `/v1/accounts/${accountId}/two-step/step-up`, channel ? { channel } : {});
    if (started.status !== 201 || !started.body.challenge) throw new Error(`step-up: ${started.status} ${JSON.stringify(started.body)}`);
    const code = await this.codeFor(started.body.challenge.id);
    const approved = await this.call('POST', `/v1/accounts/${accountId}/two-step/step-up/${started.body.stepUpId}/verify`, { code });
    if (approved.status !== 200) throw new Error(`step-up verify: ${approved.status} ${JSON.stringify(approved.body)}`);
    return String(started.body.stepUpId);
  }

  /**
   * A sign-in by SMS (e-mail as backup) from `device`, challenged, and then the account's number
   * changed (with a step-up) and the new one verified: the sign-in's code went to a number the
   * account no longer has. Returns the sign-in's 202 answer and the new number.
   */
  async signInThenNumberChange(device: { id: string; name: string; ip: string }): Promise<{ started: HttpAnswer; next: string }> {
    const a = await this.account();
    const phone = await this.verifiedPhone(a.id);
    await this.twoStep(a.id, { method: 'sms', backupMethod: 'email' });
    const started = await this.call('POST', '/v1/sessions', { email: a.email, password: a.password, device });
    if (started.status !== 202) throw new Error(`sign-in: ${started.status} ${JSON.stringify(started.body)}`);
    await this.codeTo(phone.number, 0, 'otp.sign_in');
    const next = this.phone();
    // A verified number's change needs a step-up (S8).
    const url = `/v1/accounts/${a.id}/phones`;
    const changed = await this.call('PUT', `${url}/${phone.phoneId}`, { number: next, stepUpId: await this.stepUp(a.id) });
    if (changed.status !== 202) throw new Error(`change: ${changed.status} ${JSON.stringify(changed.body)}`);
    const code = await this.codeFor(changed.body.verification.challengeId);
    const verified = await this.call('POST', `${url}/${changed.body.phoneId}/verify`, { code });
    if (verified.status !== 200) throw new Error(`verify: ${verified.status} ${JSON.stringify(verified.body)}`);
    return { started, next };
  }

  /** Every log line of identity and of the otp process. */
  allLogs(): string {
    return `${this.logs.text()}\n${this.otpOutput.join('\n')}`;
  }

  /** The secrets found in any log line (should be none). */
  /**
   * The secrets found in the logs as tokens of their own: not inside a longer run of letters,
   * digits, `_` or `-` (a 6-digit code also occurs in UUIDs and millisecond timestamps by
   * chance — a test that keeps hundreds of codes found one that way), but as logged: quoted,
   * after a space, `=`, `:` or `#`, in a message or a URL.
   */
  leaks(): string[] {
    const logs = this.allLogs();
    return [...this.secrets].filter((s) => {
      if (s.length < 6 || !logs.includes(s)) return false;
      const escaped = s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      return new RegExp(`(?<![A-Za-z0-9_-])${escaped}(?![A-Za-z0-9_-])`).test(logs);
    });
  }

  async close(): Promise<void> {
    await this.app?.close().catch(() => undefined);
    await this.redis?.quit().catch(() => undefined);
    if (this.otp && this.otp.exitCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.otp?.kill('SIGKILL');
          resolve();
        }, 10_000);
        this.otp?.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        this.otp?.kill('SIGTERM');
      });
    }
    await this.tap?.close();
    await Promise.all([
      this.db?.drop().catch(() => undefined),
      this.otpDb?.drop().catch(() => undefined),
      this.vhost?.drop().catch(() => undefined),
      dropRedisPrefix(this.prefix).catch(() => undefined),
      dropRedisPrefix(this.otpPrefix).catch(() => undefined),
    ]);
  }
}

function hasCode(t: Tapped): boolean {
  const v = t.data['variables'] as Record<string, unknown> | undefined;
  return typeof v?.['code'] === 'string';
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) of a base32 secret at a time step, as an authenticator app computes it. */
export function totp(secretBase32: string, step = Math.floor(Date.now() / 30_000)): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const bytes: number[] = [];
  for (const ch of secretBase32.replace(/=+$/, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', Buffer.from(bytes)).update(counter).digest();
  const offset = mac[mac.length - 1]! & 15;
  const n = ((mac[offset]! & 127) << 24) | (mac[offset + 1]! << 16) | (mac[offset + 2]! << 8) | mac[offset + 3]!;
  return String(n % 1_000_000).padStart(6, '0');
}
