import { EventEmitter } from 'node:events';
import type {
  SimBehaviour,
  SimCarrierDefinition,
  SimCarrierStats,
  SimHttpCarrier,
  SimSmppCarrier,
  SimSmtpCarrier,
} from './sim.types';

export const DEFAULT_BEHAVIOUR: Readonly<SimBehaviour> = Object.freeze({
  latencyMs: 0,
  errorRate: 0,
  throttle: false,
  down: false,
  receiptDelayMs: 50,
  receiptStatus: 'delivered',
  invalidPrefixes: ['+999', 'invalid.test'],
  cancellable: true,
  refuseSegment: false,
  interimReceipt: false,
  segmentReceiptStatus: false,
  receiptCopies: 1,
  receiptBeforeResponse: false,
  sameSegmentIds: false,
});

/**
 * The simulated carriers the simulator starts with unless told otherwise. The notifier's
 * carrier config defaults (`DEFAULT_CARRIERS` in services/notifier/src/carriers) point at these.
 */
export const DEFAULT_SIM_CARRIERS: readonly SimCarrierDefinition[] = Object.freeze([
  { name: 'smpp-a', protocol: 'smpp', systemId: 'smpp-a', password: 'sim-a' },
  {
    name: 'http-b',
    protocol: 'http',
    accountSid: 'ACsimb',
    authToken: 'sim-token-b',
    channels: ['sms', 'voice'],
  },
  { name: 'smpp-c', protocol: 'smpp', systemId: 'smpp-c', password: 'sim-c' },
  {
    name: 'http-d',
    protocol: 'http',
    accountSid: 'ACsimd',
    authToken: 'sim-token-d',
    channels: ['sms', 'voice'],
  },
  { name: 'smtp-main', protocol: 'smtp', username: 'sim', password: 'sim-smtp' },
]);

/** What to answer one submission with. */
export type Decision = 'accept' | 'down' | 'throttled' | 'error' | 'invalid';

export interface SimCarrierState {
  readonly definition: SimCarrierDefinition;
  behaviour: SimBehaviour;
  readonly stats: SimCarrierStats;
  /** Accept times within the last second (for a numeric throttle). */
  acceptedAt: number[];
}

function initialBehaviour(definition: SimCarrierDefinition): SimBehaviour {
  return {
    ...DEFAULT_BEHAVIOUR,
    invalidPrefixes: [...DEFAULT_BEHAVIOUR.invalidPrefixes],
    ...definition.behaviour,
  };
}

function emptyStats(): SimCarrierStats {
  return {
    accepted: 0,
    throttled: 0,
    errors: 0,
    invalid: 0,
    refused: 0,
    cancelled: 0,
    receiptsSent: 0,
    callbacksSent: 0,
    callbacksFailed: 0,
  };
}

/**
 * The simulated carriers and their run-time knobs. Emits `changed(name, behaviour)` after a
 * change so protocol servers can react (the SMPP server drops sessions of a carrier gone down).
 */
export class CarrierRegistry extends EventEmitter {
  private readonly carriers = new Map<string, SimCarrierState>();

  constructor(
    definitions: readonly SimCarrierDefinition[],
    private readonly random: () => number = Math.random,
  ) {
    super();
    for (const definition of definitions) {
      if (this.carriers.has(definition.name))
        throw new Error(`duplicate simulated carrier ${definition.name}`);
      this.carriers.set(definition.name, {
        definition,
        behaviour: initialBehaviour(definition),
        stats: emptyStats(),
        acceptedAt: [],
      });
    }
  }

  list(): SimCarrierState[] {
    return [...this.carriers.values()];
  }

  get(name: string): SimCarrierState | undefined {
    return this.carriers.get(name);
  }

  smppBySystemId(systemId: string): (SimCarrierState & { definition: SimSmppCarrier }) | undefined {
    return this.list().find(
      (c): c is SimCarrierState & { definition: SimSmppCarrier } =>
        c.definition.protocol === 'smpp' && c.definition.systemId === systemId,
    );
  }

  httpByAccount(
    accountSid: string,
  ): (SimCarrierState & { definition: SimHttpCarrier }) | undefined {
    return this.list().find(
      (c): c is SimCarrierState & { definition: SimHttpCarrier } =>
        c.definition.protocol === 'http' && c.definition.accountSid === accountSid,
    );
  }

  smtpCarriers(): (SimCarrierState & { definition: SimSmtpCarrier })[] {
    return this.list().filter(
      (c): c is SimCarrierState & { definition: SimSmtpCarrier } =>
        c.definition.protocol === 'smtp',
    );
  }

  update(name: string, patch: Partial<SimBehaviour>): SimBehaviour | undefined {
    const state = this.carriers.get(name);
    if (!state) return undefined;
    state.behaviour = { ...state.behaviour, ...patch };
    this.emit('changed', name, state.behaviour);
    return state.behaviour;
  }

  /** Back to the configured behaviour and zero counters. */
  reset(): void {
    for (const state of this.carriers.values()) {
      state.behaviour = initialBehaviour(state.definition);
      Object.assign(state.stats, emptyStats());
      state.acceptedAt = [];
      this.emit('changed', state.definition.name, state.behaviour);
    }
  }

  /**
   * Decides how to answer a submission to `to` now, and counts it. Order: down, recipient
   * (invalid destination), throttle, random error, accept.
   */
  decide(state: SimCarrierState, to: string, now = Date.now()): Decision {
    const b = state.behaviour;
    if (b.down) {
      state.stats.refused++;
      return 'down';
    }
    if (isInvalidDestination(to, b.invalidPrefixes)) {
      state.stats.invalid++;
      return 'invalid';
    }
    if (b.throttle === true) {
      state.stats.throttled++;
      return 'throttled';
    }
    if (typeof b.throttle === 'number') {
      state.acceptedAt = state.acceptedAt.filter((t) => now - t < 1000);
      if (state.acceptedAt.length >= b.throttle) {
        state.stats.throttled++;
        return 'throttled';
      }
    }
    if (b.errorRate > 0 && this.random() < b.errorRate) {
      state.stats.errors++;
      return 'error';
    }
    state.acceptedAt.push(now);
    state.stats.accepted++;
    return 'accept';
  }
}

/** A destination is refused when it starts with an invalid prefix or (e-mail) its domain is listed. */
export function isInvalidDestination(to: string, invalidPrefixes: readonly string[]): boolean {
  const at = to.lastIndexOf('@');
  if (at >= 0) {
    const domain = to.slice(at + 1).toLowerCase();
    return invalidPrefixes.some((p) => p.toLowerCase() === domain);
  }
  return invalidPrefixes.some((p) => p.startsWith('+') && to.startsWith(p));
}
