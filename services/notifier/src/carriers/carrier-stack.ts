import type { Logger } from '@phonegate/platform';
import type { Redis } from 'ioredis';
import pino from 'pino';
import type { Registry } from 'prom-client';
import { createCarrier } from './carrier.factory';
import type {
  Carrier,
  CarrierReceipt,
  LateAcceptanceListener,
  ReceiptListener,
} from './carrier.types';
import {
  policyOf,
  routeOf,
  type CarriersConfig,
  type HttpCarrierDefinition,
} from './config/carriers.config';
import { DevInboxCarrier } from './dev/dev-inbox.carrier';
import { CALLBACK_SIGNATURE_HEADER, verifyCallbackSignature } from './http-sms/callback-signature';
import { parseStatusCallback } from './http-sms/status-callback.parser';
import { CarrierMetrics } from './resilience/carrier-metrics';
import { FailoverSender, type BreakerStateChange } from './resilience/failover.sender';
import { MemoryRateLimiter, RedisRateLimiter, type RateLimiter } from './resilience/token-bucket';

export interface CarrierStackOptions {
  config: CarriersConfig;
  /** Shared send-rate buckets; without it each process has its own (one replica, or embedded mode). */
  redis?: Redis;
  /** prom-client registry for the carrier metrics (default the global one). */
  registry?: Registry;
  logger?: Logger;
  onBreakerStateChange?: (change: BreakerStateChange) => void;
  /** Replace an adapter (tests; embedded mode's inbox). */
  carriers?: Carrier[];
  maxRateWaitMs?: number;
}

export type CallbackCheck =
  | { ok: true; receipt?: CarrierReceipt }
  | { ok: false; error: 'unknown_carrier' | 'invalid_signature' };

/**
 * Everything the notifier needs from its carriers, built from the parsed config: the adapters,
 * the FailoverSender over them, receipts from every carrier (SMPP deliver_sm through
 * `onReceipt`, HTTP callbacks through `readCallback`), health, start and close.
 */
export class CarrierStack {
  readonly carriers: readonly Carrier[];
  readonly sender: FailoverSender;
  private readonly logger: Logger;
  private readonly httpDefs = new Map<string, HttpCarrierDefinition>();
  private readonly lateListeners: LateAcceptanceListener[] = [];

  constructor(options: CarrierStackOptions) {
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.carriers =
      options.carriers ?? options.config.carriers.map((def) => createCarrier(def, this.logger));
    for (const def of options.config.carriers)
      if (def.type === 'http') this.httpDefs.set(def.id, def);
    const lastFallbackLog = new Map<string, number>();
    const rateLimiter: RateLimiter = options.redis
      ? new RedisRateLimiter(options.redis, 'carrier:bucket:', (carrierId, err) => {
          // At most one line a carrier every 30 s while Redis is away.
          const now = Date.now();
          if (now - (lastFallbackLog.get(carrierId) ?? 0) < 30_000) return;
          lastFallbackLog.set(carrierId, now);
          this.logger.warn(
            { carrier: carrierId, err: err.message },
            'rate bucket unavailable, using the local one',
          );
        })
      : new MemoryRateLimiter();
    const defs = new Map(options.config.carriers.map((d) => [d.id, d]));
    for (const c of this.carriers) {
      // A replacement adapter takes its routing and policy from the definition with its id.
      if (!defs.has(c.id)) throw new Error(`carrier ${c.id} has no definition in CARRIERS`);
    }
    this.sender = new FailoverSender({
      carriers: this.carriers,
      policies: Object.fromEntries(this.carriers.map((c) => [c.id, policyOf(defs.get(c.id)!)])),
      routes: options.config.carriers.map(routeOf),
      preferences: options.config.preferences,
      rateLimiter,
      logger: this.logger,
      ...(options.registry ? { registry: options.registry } : {}),
      ...(options.onBreakerStateChange
        ? { onBreakerStateChange: options.onBreakerStateChange }
        : {}),
      ...(options.maxRateWaitMs !== undefined ? { maxRateWaitMs: options.maxRateWaitMs } : {}),
    });
    const metrics = new CarrierMetrics(options.registry);
    for (const c of this.carriers) {
      c.onLateAcceptance?.((late) => {
        metrics.lateAcceptances.inc({
          carrier: late.carrierId,
          outcome: late.cancelled ? 'cancelled' : 'not_cancelled',
        });
        for (const listener of this.lateListeners) listener(late);
      });
    }
  }

  /**
   * Messages a carrier took after the sender gave up on the call and moved on (counted in
   * `notifier_carrier_late_acceptances_total`); the timeline must show them.
   */
  onLateAcceptance(listener: LateAcceptanceListener): void {
    this.lateListeners.push(listener);
  }

  /** Receipts that come over carriers' own connections (SMPP). */
  onReceipt(listener: ReceiptListener): void {
    for (const c of this.carriers) c.onReceipt?.(listener);
  }

  /**
   * Checks an HTTP carrier's status callback (signature over the URL as called and the form
   * parameters, keyed with the account's auth token) and reads its receipt.
   */
  readCallback(input: {
    carrier: string;
    url: string;
    params: Readonly<Record<string, string>>;
    headers: Readonly<Record<string, string | string[] | undefined>>;
  }): CallbackCheck {
    const def = this.httpDefs.get(input.carrier);
    if (!def) return { ok: false, error: 'unknown_carrier' };
    const header = input.headers[CALLBACK_SIGNATURE_HEADER];
    const signature = Array.isArray(header) ? header[0] : header;
    if (!verifyCallbackSignature(input.url, input.params, signature, def.authToken))
      return { ok: false, error: 'invalid_signature' };
    const receipt = parseStatusCallback(def.id, input.params);
    return receipt ? { ok: true, receipt } : { ok: true };
  }

  /** The dev inbox carrier, when one is configured (embedded mode). */
  inbox(): DevInboxCarrier | undefined {
    return this.carriers.find((c): c is DevInboxCarrier => c instanceof DevInboxCarrier);
  }

  /** Binds SMPP sessions; never rejects (a carrier that is down is the breakers' business). */
  async start(): Promise<void> {
    await Promise.all(
      this.carriers.map(async (c) => {
        try {
          await c.start?.();
        } catch (err) {
          this.logger.warn({ carrier: c.id, err: (err as Error).message }, 'carrier did not start');
        }
      }),
    );
  }

  async close(): Promise<void> {
    this.sender.close();
    await Promise.all(
      this.carriers.map(async (c) => {
        try {
          await c.close?.();
        } catch {
          // closing is best effort
        }
      }),
    );
  }
}
