import type { EventContract } from '@phonegate/contracts';
import {
  BusClosedError,
  BusUnavailableError,
  ContractViolationError,
  PublisherOverloadedError,
  PublishTimeoutError,
} from '@phonegate/messaging';
import { createLogger, DomainError, ManualClock, MetricsService } from '@phonegate/platform';
import { LogCapture } from '@phonegate/platform/testing';
import type { AccountSignals } from '../alerts/account-signals.store';
import { Messenger } from '../alerts/messenger';
import { KeyedHasher } from '../codes/keyed-hash';
import { loadOtpConfig } from '../config/otp.config';
import type { Refund } from '../limits/gates.store';
import type { RedisPumping } from '../limits/pumping.store';
import { SendGuard } from '../limits/send-guard';
import { OtpMetrics } from '../otp.metrics';
import type { EventPublisher } from '../ports/event-publisher';
import type { ChallengeRecord } from './challenge.model';
import { ChallengeService } from './challenge.service';
import type {
  ChallengeStore,
  CheckApplied,
  CheckRequest,
  ResendApplied,
  ResendRequest,
  UndoSendRequest,
} from './challenge.store';

/**
 * The code store as the service sees it, in memory: just enough of the Redis
 * scripts' semantics (create, resend replacing the digest, undo of the
 * cooldown, check against the stored digest) to follow what a failed send leaves.
 */
class MemoryStore implements ChallengeStore {
  readonly records = new Map<string, ChallengeRecord>();
  readonly calls: string[] = [];
  /** The tickets of the sends whose limits were given back. */
  readonly refunded: string[] = [];
  private sends = 0;

  private refund(): Refund {
    this.sends += 1;
    return { ticket: `send-${this.sends}`, windows: ['rl:d:x'], counters: ['rl:cd:x'] };
  }

  async create(record: ChallengeRecord) {
    this.calls.push('create');
    this.records.set(record.id, { ...record });
    return {
      gates: { passed: true as const, ticket: 't' },
      unrequestedAlert: 0,
      refund: this.refund(),
    };
  }

  async load(id: string) {
    const r = this.records.get(id);
    return r ? { ...r } : undefined;
  }

  async discard(id: string, refund: Refund | undefined) {
    this.calls.push('discard');
    if (refund) this.refunded.push(refund.ticket);
    this.records.delete(id);
  }

  async check(req: CheckRequest): Promise<CheckApplied> {
    const r = this.records.get(req.id);
    const applied = (outcome: CheckApplied['outcome']) => ({
      outcome,
      attemptsLeft: r?.attemptsLeft ?? 0,
      accountFailures: 0,
      accountLockMs: 0,
    });
    if (!r) return applied('not_found');
    if (r.status !== 'pending') return applied('used');
    if (r.digest !== req.observedDigest) return applied('stale');
    if (!req.match) {
      r.attemptsLeft -= 1;
      return applied('mismatch');
    }
    r.status = 'approved';
    r.digest = '';
    return applied('approved');
  }

  async resend(req: ResendRequest): Promise<ResendApplied> {
    this.calls.push('resend');
    const r = this.records.get(req.id);
    if (!r) throw new Error('no such challenge');
    r.sends += 1;
    r.digest = req.digest;
    r.kid = req.kid;
    r.expiresAt = req.nowMs + req.ttlMs;
    r.lastSentAt = req.nowMs;
    r.resendAt = req.nowMs + req.cooldownMs * 2;
    r.messageId = req.messageId;
    r.channel = req.channel;
    delete r.delivery;
    return {
      outcome: 'ok',
      sends: r.sends,
      resendAt: r.resendAt,
      expiresAt: r.expiresAt,
      retryAfterMs: 0,
      refund: this.refund(),
    };
  }

  async undoCooldown({ id, messageId, nowMs, restore, refund }: UndoSendRequest) {
    this.calls.push(restore ? 'undoCooldown:restore' : 'undoCooldown');
    if (refund) this.refunded.push(refund.ticket);
    const r = this.records.get(id);
    if (!r || r.messageId !== messageId) return;
    if (restore) {
      Object.assign(r, restore, { sends: r.sends - 1 });
      return;
    }
    r.sends -= 1;
    r.resendAt = nowMs;
    r.delivery = { status: 'failed', channel: r.channel, reason: 'not_queued', at: nowMs };
  }

  async recordDelivery() {
    return 'not_found' as const;
  }

  private readonly starts = new Map<string, string>();

  async startedFor(purpose: string, ref: string) {
    return this.starts.get(`${purpose}:${ref}`);
  }

  async rememberStart(purpose: string, ref: string, id: string) {
    if (!this.starts.has(`${purpose}:${ref}`)) this.starts.set(`${purpose}:${ref}`, id);
  }

  async report() {
    return { outcome: 'not_found' as const, previous: '' };
  }

  async sweep() {
    return [];
  }

  async accountFailures() {
    return { failures: 0, ttlMs: 0 };
  }
}

/** The bus port: code messages fail with `failWith` when set; `sent` keeps every message handed to it. */
class FakeBus implements EventPublisher {
  failWith: Error | undefined;
  readonly sent: { type: string; data: Record<string, unknown> }[] = [];

  publish<C extends EventContract>(contract: C, data: unknown): Promise<void> {
    const message = { type: contract.type, data: data as Record<string, unknown> };
    this.sent.push(message);
    if (contract.type === 'notification.requested.v1' && this.failWith)
      return Promise.reject(this.failWith);
    return Promise.resolve();
  }

  codes(challengeId: string): string[] {
    return this.sent
      .filter((m) => m.type === 'notification.requested.v1')
      .filter((m) => (m.data['origin'] as { ref?: string }).ref === challengeId)
      .map((m) => (m.data['variables'] as { code: string }).code);
  }
}

function setup() {
  const config = loadOtpConfig({});
  const clock = new ManualClock(Date.UTC(2026, 10, 22, 10, 0, 0));
  const logs = new LogCapture();
  const logger = createLogger({ service: 'otp', level: 'debug', destination: logs });
  const metrics = new OtpMetrics(new MetricsService('otp', false));
  const hasher = new KeyedHasher(config.codeKeys);
  const pumping = {
    observeCall: () => ({ keys: [], args: [], sentKey: 'pump:s:x' }),
    verifiedKey: () => ({ key: 'pump:v:x', ttlMs: 1 }),
  } as unknown as RedisPumping;
  const signals = { noteSignInCode: async () => 0 } as unknown as AccountSignals;
  const store = new MemoryStore();
  const bus = new FakeBus();
  const service = new ChallengeService(
    store,
    new SendGuard(pumping, hasher, config, metrics, logger),
    new Messenger(bus, 'shop.example.com'),
    bus,
    hasher,
    signals,
    pumping,
    clock,
    config,
    metrics,
    logger,
  );
  return { service, store, bus, clock, config, logs, metrics };
}

const START = { purpose: 'phone_verification', channel: 'sms', to: '+14155550123' } as const;
/** A storefront's API key, as the HTTP controller names it. */
const SHOP = { via: 'http', client: 'key_0badf00d' } as const;

async function rejection(p: Promise<unknown>): Promise<DomainError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

const UNCERTAIN: [string, () => Error][] = [
  ['a publish not confirmed in time', () => new PublishTimeoutError('x', 5000, undefined)],
  ['a publish failed by a shutdown', () => new BusClosedError('publisher')],
  ['an error the service does not know', () => new Error('socket hang up')],
];

const NEVER_LEFT: [string, () => Error][] = [
  ['the bus down past its grace', () => new BusUnavailableError(3_000)],
  ['a publisher with too many waiting', () => new PublisherOverloadedError(100_000)],
  ['an envelope that breaks its contract', () => new ContractViolationError('x', [])],
];

/** A start whose code publish fails with `error`: the 503, and what the store holds then. */
async function failedStart(error: Error) {
  const t = setup();
  t.bus.failWith = error;
  const answer = await rejection(t.service.start(START, SHOP));
  expect(answer.code).toBe('service_unavailable');
  expect(answer.extra).toEqual({ retryAfter: 1 });
  return t;
}

/** A resend (past the cooldown) whose code publish fails with `error`; the 503 and the record after it. */
async function failedResend(error: Error) {
  const t = setup();
  const { id } = await t.service.start(START, SHOP);
  t.clock.advance(t.config.codes.cooldownMs);
  t.bus.failWith = error;
  const answer = await rejection(t.service.resend({ id }, SHOP));
  expect(answer.code).toBe('service_unavailable');
  expect(answer.extra).toEqual({ retryAfter: 1 });
  return { ...t, id, record: (await t.store.load(id)) as ChallengeRecord };
}

describe('challenge service: a code whose publish failed', () => {
  describe.each(UNCERTAIN)('start, after %s', (_name, makeError) => {
    it('answers 503 and keeps the challenge, so the code that may arrive verifies', async () => {
      const { service, store, bus, logs } = await failedStart(makeError());
      expect(store.calls).toEqual(['create']);
      // The code may be on its way: its send keeps its place in the limits.
      expect(store.refunded).toEqual([]);
      const [id] = [...store.records.keys()];
      const [code] = bus.codes(id as string);
      bus.failWith = undefined;
      await expect(
        service.check({ id: id as string, code: code as string }, SHOP),
      ).resolves.toMatchObject({ status: 'approved' });
      expect(logs.text()).toContain('the challenge is kept');
      expect(logs.text()).not.toContain(code as string);
    });
  });

  describe.each(NEVER_LEFT)('start, after %s', (_name, makeError) => {
    it('answers the same 503, removes the challenge and gives back what its send took from the limits', async () => {
      const { store } = await failedStart(makeError());
      expect(store.calls).toEqual(['create', 'discard']);
      expect(store.records.size).toBe(0);
      expect(store.refunded).toEqual(['send-1']);
    });
  });

  describe.each(UNCERTAIN)('resend, after %s', (_name, makeError) => {
    it('answers 503 and leaves the new code verifying, its cooldown in place', async () => {
      const { service, store, bus, clock, id, record } = await failedResend(makeError());
      expect(store.calls).toEqual(['create', 'resend']);
      expect(store.refunded).toEqual([]);
      expect(record.delivery).toBeUndefined();
      expect(record.resendAt).toBeGreaterThan(clock.nowMs());
      const second = bus.codes(id)[1];
      bus.failWith = undefined;
      await expect(service.check({ id, code: second as string }, SHOP)).resolves.toMatchObject({
        status: 'approved',
      });
    });
  });

  describe.each(NEVER_LEFT)('resend, after %s', (_name, makeError) => {
    it('answers 503, lets the person ask again at once and gives back what the send took from the limits', async () => {
      const { store, clock, record } = await failedResend(makeError());
      expect(store.calls).toEqual(['create', 'resend', 'undoCooldown']);
      expect(store.refunded).toEqual(['send-2']);
      // Not a send for the challenge's maximum either.
      expect(record.sends).toBe(1);
      expect(record.resendAt).toBe(clock.nowMs());
      expect(record.delivery).toMatchObject({ status: 'failed', reason: 'not_queued' });
    });
  });

  it('counts the failures by outcome', async () => {
    const { service, bus, metrics } = setup();
    bus.failWith = new PublishTimeoutError('x', 5000, undefined);
    await rejection(service.start(START, SHOP));
    bus.failWith = new BusUnavailableError(3_000);
    await rejection(service.start({ ...START, to: '+14155550124' }, SHOP));
    const values = (await metrics.codeSendFailures.get()).values;
    expect(values.map((v) => [v.labels['outcome'], v.value]).sort()).toEqual([
      ['not_sent', 1],
      ['uncertain', 1],
    ]);
  });
});
