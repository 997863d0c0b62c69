import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DomainError, type Logger } from '@phonegate/platform';
import type { Redis } from 'ioredis';
import {
  type AppliedChange,
  type CheckInput,
  type CheckResult,
  type CodeOwner,
  type CodePresence,
  CodeStore,
  type HandoffCarry,
  type IssuedCode,
  type LiveCode,
  type LiveState,
  type NewCode,
  type PutResult,
  type RegenerateResult,
  type ReplacedCode,
  type Reschedule,
  type RevokeResult,
  type RowHandoffState,
  type UpdateResult,
} from './code.store';

const SCRIPTS = {
  deliveryOtpHandoff: 'handoff.lua',
  deliveryOtpIssue: 'issue.lua',
  deliveryOtpRegenerate: 'regenerate.lua',
  deliveryOtpRestore: 'restore.lua',
  deliveryOtpUpdate: 'update.lua',
  deliveryOtpDiscard: 'discard.lua',
} as const;
/** Scripts on the code hash and the shipment's revoke marker. */
const TWO_KEY_SCRIPTS = {
  deliveryOtpRevoke: 'revoke.lua',
  deliveryOtpRevert: 'revert.lua',
} as const;
type ScriptName = keyof typeof SCRIPTS;
type TwoKeyScriptName = keyof typeof TWO_KEY_SCRIPTS;
type ScriptRunner = (key: string, ...args: (string | number)[]) => Promise<unknown>;

const NOTHING_CARRIED: HandoffCarry = { attempts: 0, locked: false, regenerations: 0, lastSentMs: 0 };

/** The Redis key of a shipment's live code (under the client's key prefix). */
export function codeKey(shipmentId: string): string {
  return `code:${shipmentId}`;
}

/** The Redis key naming a shipment's last revoke until it is reverted or another revoke runs (revoke.lua). */
export function revokeMarkerKey(shipmentId: string): string {
  return `revoked:${shipmentId}`;
}

/**
 * Live codes in Redis hashes: the sealed code, its HMAC and key id, window,
 * courier, attempts and state, expiring at the window's end plus grace. All
 * state changes are Lua scripts, so each is atomic. Any Redis failure becomes
 * 503 `service_unavailable`: a check never passes without the store (R1).
 */
export class RedisCodeStore extends CodeStore {
  constructor(
    private readonly redis: Redis,
    private readonly logger?: Logger,
  ) {
    super();
    for (const [scripts, numberOfKeys] of [[SCRIPTS, 1], [TWO_KEY_SCRIPTS, 2]] as const) {
      for (const [name, file] of Object.entries(scripts)) {
        if (typeof (redis as unknown as Record<string, unknown>)[name] === 'function') continue;
        redis.defineCommand(name, { numberOfKeys, lua: readFileSync(join(__dirname, file), 'utf8') });
      }
    }
  }

  async put(code: NewCode): Promise<PutResult> {
    const carry = code.carry ?? NOTHING_CARRIED;
    const [verdict, state, ...replaced] = (await this.run('deliveryOtpIssue', code.shipmentId, code.expiresAtMs,
      'state', carry.locked ? 'locked' : 'awaiting_handoff',
      'acct', code.accountId,
      'courier', code.courierId,
      'ws', code.windowStartMs,
      'we', code.windowEndMs,
      'exp', code.expiresAtMs,
      'attempts', carry.attempts,
      'gen', code.generation,
      'sealed', code.sealed,
      'hkid', code.hmacKeyId,
      'hmac', code.hmac,
      'regens', carry.regenerations,
      'lastRegen', carry.lastSentMs,
    )) as string[];
    if (verdict === 'already') return { verdict };
    if (verdict === 'ok' && (state === 'awaiting_handoff' || state === 'locked')) return { verdict, state, replaced: { fields: replaced } };
    throw new Error(`unexpected issue verdict ${verdict}`);
  }

  async restore(shipmentId: string, issued: IssuedCode, replaced: ReplacedCode): Promise<boolean> {
    return Number(await this.run('deliveryOtpRestore', shipmentId, 'restore', issued.generation, issued.hmac, ...replaced.fields)) === 1;
  }

  async withdraw(shipmentId: string, issued: IssuedCode): Promise<boolean> {
    return Number(await this.run('deliveryOtpRestore', shipmentId, 'withdraw', issued.generation, issued.hmac)) === 1;
  }

  async get(shipmentId: string): Promise<LiveCode | undefined> {
    const h = await this.call(() => this.redis.hgetall(codeKey(shipmentId)));
    if (!h['state']) return undefined;
    return {
      shipmentId,
      state: h['state'] as LiveState,
      accountId: h['acct'] ?? '',
      courierId: h['courier'] ?? '',
      windowStartMs: Number(h['ws']),
      windowEndMs: Number(h['we']),
      expiresAtMs: Number(h['exp']),
      attempts: Number(h['attempts'] ?? 0),
      generation: Number(h['gen'] ?? 0),
      ...(h['sealed'] ? { sealed: h['sealed'] } : {}),
      ...(h['chgUnlock'] ? { unlockPending: true as const } : {}),
    };
  }

  async discard(shipmentId: string, copy: { generation: number; attemptId?: string }): Promise<boolean> {
    return Number(await this.run('deliveryOtpDiscard', shipmentId, copy.generation, copy.attemptId ?? '')) === 1;
  }

  async presence(shipmentId: string): Promise<CodePresence> {
    const replies = await this.call(async () => {
      // A code is a hash with a state, as the check (handoff.lua) and get() see one.
      const out = await this.redis.multi().hexists(codeKey(shipmentId), 'state').exists(revokeMarkerKey(shipmentId)).exec();
      if (!out) throw new Error('transaction aborted');
      return out.map(([error, value]) => {
        if (error) throw error;
        return Number(value);
      });
    });
    if (replies[0] === 1) return 'code';
    return replies[1] === 1 ? 'revoking' : 'none';
  }

  async check(input: CheckInput): Promise<CheckResult> {
    const raw = (await this.run('deliveryOtpHandoff', input.shipmentId,
      input.courierId,
      input.deviceId,
      input.nowMs,
      input.atMs,
      input.toleranceMs,
      input.maxAttempts,
      input.attemptId,
      ...input.candidates,
    )) as [string, number, number, string];
    const [verdict, attemptsRemaining, generation, detail] = raw;
    switch (verdict) {
      case 'window_closed':
        return { verdict, attemptsRemaining, generation, reason: detail as 'expired' | 'device_clock_ahead' | 'outside_window' };
      case 'already': {
        const [byDeviceId = '', attemptId = '', doneAt = ''] = detail.split(' ');
        const atMs = Number(doneAt);
        return { verdict, attemptsRemaining, generation, byDeviceId, attemptId, ...(doneAt !== '' && Number.isFinite(atMs) ? { atMs } : {}) };
      }
      case 'ok':
      case 'mismatch':
      case 'locked_now':
      case 'locked':
      case 'not_assigned':
      case 'not_found':
      case 'key_unavailable':
        return { verdict, attemptsRemaining, generation };
      default:
        throw new Error(`unexpected handoff verdict ${verdict}`);
    }
  }

  async regenerate(
    shipmentId: string,
    next: { nowMs: number; cooldownMs: number; maxRegenerations: number; sealed: string; hmacKeyId: string; hmac: string; owner: CodeOwner },
  ): Promise<RegenerateResult> {
    const { owner } = next;
    const [verdict, generation, retryAfterMs, regenerations, ...replaced] = (await this.run('deliveryOtpRegenerate', shipmentId,
      next.nowMs, next.cooldownMs, next.maxRegenerations, next.sealed, next.hmacKeyId, next.hmac,
      owner.accountId, owner.courierId, owner.windowStartMs, owner.windowEndMs, owner.expiresAtMs, owner.generation,
    )) as [string, number, number, number, ...string[]];
    if (verdict === 'ok') return { verdict, generation: Number(generation), regenerations: Number(regenerations), replaced: { fields: replaced.map(String) } };
    if (verdict === 'cooldown' || verdict === 'limit') return { verdict, retryAfterMs: Math.max(retryAfterMs, 1000) };
    if (verdict === 'not_found' || verdict === 'already') return { verdict };
    throw new Error(`unexpected regenerate verdict ${verdict}`);
  }

  reschedule(shipmentId: string, change: Reschedule): Promise<UpdateResult> {
    const previous = change.previous;
    return this.update(shipmentId, 'reschedule', change.windowStartMs, change.windowEndMs, change.expiresAtMs, change.courierId ?? '',
      change.expect?.accountId ?? '', change.expect?.generation ?? '',
      ...(previous ? [previous.windowStartMs, previous.windowEndMs, previous.expiresAtMs, previous.courierId] : []));
  }

  unlock(shipmentId: string, row?: RowHandoffState): Promise<UpdateResult> {
    return this.update(shipmentId, 'unlock', ...(row ? [row.attempts, row.locked ? '1' : '0'] : []));
  }

  async revoke(shipmentId: string, row?: RowHandoffState & { window: NonNullable<Reschedule['previous']> }): Promise<RevokeResult> {
    const token = randomUUID();
    const w = row?.window;
    const [verdict, state, attempts, regenerations, lastSentMs, ...fields] = (await this.run2('deliveryOtpRevoke', shipmentId, token,
      ...(row && w ? [row.attempts, row.locked ? '1' : '0', w.windowStartMs, w.windowEndMs, w.expiresAtMs, w.courierId] : []))) as string[];
    if (verdict === 'ok') {
      return {
        verdict,
        carry: { attempts: Number(attempts ?? 0), locked: state === 'locked', regenerations: Number(regenerations ?? 0), lastSentMs: Number(lastSentMs ?? 0) },
        change: { kind: 'revoke', token, generation: '', hmac: '', fields: fields.map(String) },
      };
    }
    if (verdict === 'not_found' || verdict === 'already') return { verdict };
    throw new Error(`unexpected revoke verdict ${verdict}`);
  }

  async revert(shipmentId: string, change: AppliedChange, mode: 'restore' | 'withdraw'): Promise<boolean> {
    return Number(await this.run2('deliveryOtpRevert', shipmentId, change.kind, mode, change.token, change.generation, change.hmac, ...change.fields)) === 1;
  }

  async settle(shipmentId: string, change: AppliedChange): Promise<boolean> {
    return Number(await this.run2('deliveryOtpRevert', shipmentId, change.kind, 'settle', change.token, change.generation, change.hmac)) === 1;
  }

  private async update(shipmentId: string, op: 'reschedule' | 'unlock', ...args: (string | number)[]): Promise<UpdateResult> {
    const token = randomUUID();
    const [verdict, state, generation, hmac, ...fields] = (await this.run('deliveryOtpUpdate', shipmentId, op, token, ...args)) as string[];
    if (verdict === 'ok' && state !== undefined) {
      return { verdict, state, change: { kind: op, token, generation: String(generation ?? ''), hmac: String(hmac ?? ''), fields: fields.map(String) } };
    }
    if (verdict === 'not_found' || verdict === 'already' || verdict === 'stale') return { verdict };
    throw new Error(`unexpected update verdict ${verdict}`);
  }

  private run(name: ScriptName, shipmentId: string, ...args: (string | number)[]): Promise<unknown> {
    const runner = (this.redis as unknown as Record<ScriptName, ScriptRunner>)[name];
    return this.call(() => runner.call(this.redis, codeKey(shipmentId), ...args));
  }

  /** A script on the code hash and the revoke marker. */
  private run2(name: TwoKeyScriptName, shipmentId: string, ...args: (string | number)[]): Promise<unknown> {
    const runner = (this.redis as unknown as Record<TwoKeyScriptName, (k1: string, k2: string, ...a: (string | number)[]) => Promise<unknown>>)[name];
    return this.call(() => runner.call(this.redis, codeKey(shipmentId), revokeMarkerKey(shipmentId), ...args));
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      // Only the error's class and message: ioredis messages carry no arguments.
      this.logger?.warn({ error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }, 'code store failed');
      throw new DomainError('service_unavailable', 'The code store is unavailable; try again shortly.', { retryAfter: 1 }, true);
    }
  }
}
