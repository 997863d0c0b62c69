import type { Redis } from 'ioredis';
import type { Channel, ChallengePurpose } from '@phonegate/contracts';
import {
  GATES_LUA,
  type Gate,
  gateArgs,
  type GateResult,
  gateResult,
  newTicket,
  REFUND_LUA,
  type Refund,
  refundCall,
  refundOf,
} from '../limits/gates.store';
import {
  PUMP_OBSERVE_LUA,
  type PumpCall,
  type PumpObservation,
  pumpObservation,
} from '../limits/pumping.store';
import { LuaScript, storeCall } from '../redis/lua-script';
import type { ChallengeRecord, ChallengeStatus, DeliveryOutcome } from './challenge.model';

/*
 * Challenges live in one Redis hash each (`ch:<id>`), with an index of
 * pending expiries (`ch:expiry`, a sorted set) for the expiry sweeper. Every
 * state change is one Lua script, so checks, resends, reports and the sweeper
 * cannot interleave halfway.
 */

const CHECK = new LuaScript(
  'otp_check',
  `
local ch = KEYS[1]
if redis.call('EXISTS', ch) == 0 then return {'not_found', 0, 0, 0} end
local f = redis.call('HMGET', ch, 'status', 'digest', 'expiresAt', 'attemptsLeft', 'purpose', 'ref', 'id')
local status, digest, exp, left, purpose, ref, id = f[1], f[2] or '', tonumber(f[3]), tonumber(f[4]), f[5], f[6] or '', f[7]
local now = tonumber(ARGV[3])
local limit = tonumber(ARGV[7])
local hasAccount = ARGV[10] == '1'
-- Only the account's own challenges (identity's, over the bus) count towards or clear its failures
-- (C8); a password reset's clears them when approved but never counts (anyone can start one).
local counts = hasAccount and ARGV[12] == '1'
local clears = hasAccount and (ARGV[12] == '1' or ARGV[12] == 'clear')
-- Bound to purpose and reference (C6): another flow's code is "not found" and costs nothing.
if ARGV[4] ~= '' and purpose ~= ARGV[4] then return {'not_found', 0, 0, 0} end
if ARGV[6] == '1' and ref ~= ARGV[5] then return {'not_found', 0, 0, 0} end
if status == 'approved' then return {'used', left, 0, 0} end
if status == 'locked' then return {'locked', left, 0, 0} end
if status == 'expired' then return {'expired', left, 0, 0} end
-- Expiry is checked here, in code, not only by the key's TTL (C4).
if now >= exp then
  redis.call('HSET', ch, 'status', 'expired', 'digest', '')
  redis.call('ZREM', KEYS[2], id)
  return {'expired_now', left, 0, 0}
end
if hasAccount and purpose == 'sign_in' then
  local fails = tonumber(redis.call('GET', KEYS[3]) or '0')
  if fails >= limit then return {'account_locked', left, fails, redis.call('PTTL', KEYS[3])} end
end
-- The caller compared against this digest; if it changed since (a resend), compare again.
if digest ~= ARGV[1] then return {'stale', left, 0, 0} end
if left <= 0 then
  redis.call('HSET', ch, 'status', 'locked', 'digest', '')
  redis.call('ZREM', KEYS[2], id)
  return {'locked', 0, 0, 0}
end
if ARGV[2] == '1' then
  -- Single use (C5): the digest goes with the approval, so a second right code finds nothing.
  redis.call('HSET', ch, 'status', 'approved', 'digest', '', 'approvedAt', ARGV[3])
  redis.call('ZREM', KEYS[2], id)
  if clears then redis.call('DEL', KEYS[3]) end
  -- Conversion of the number's prefix (pumping signal), and the sign-in "unrequested codes" count.
  if ARGV[11] ~= '' then
    redis.call('INCR', KEYS[4])
    redis.call('PEXPIRE', KEYS[4], ARGV[11])
  end
  if counts and purpose == 'sign_in' then redis.call('DEL', KEYS[5], KEYS[6]) end
  return {'approved', left, 0, 0}
end
left = left - 1
local fails, lockTtl = 0, 0
if counts then
  fails = redis.call('INCR', KEYS[3])
  if fails >= limit then
    if fails == limit then redis.call('PEXPIRE', KEYS[3], ARGV[9]) end
    lockTtl = redis.call('PTTL', KEYS[3])
  else
    redis.call('PEXPIRE', KEYS[3], ARGV[8])
  end
end
if left <= 0 then
  redis.call('HSET', ch, 'status', 'locked', 'digest', '', 'attemptsLeft', 0)
  redis.call('ZREM', KEYS[2], id)
  return {'locked_now', 0, fails, lockTtl}
end
redis.call('HSET', ch, 'attemptsLeft', left)
return {'mismatch', left, fails, lockTtl}
`,
);

/**
 * Passes the send gates and, only if all pass, consumes them, creates the
 * challenge and observes the send for the pumping signals, in one step (one
 * round trip for a start). KEYS: the gates, then the challenge, the expiry
 * index, the account's unrequested-code keys and the 7 keys of the pumping
 * observation (when ARGV[o + 6], its argument count, is not 0), then the
 * challenge's hash fields as name, value pairs (not one JSON argument: the
 * embedded mode's in-memory Redis has no cjson). A failed
 * observation does not fail the step: it answers 'failed' in its place.
 */
const GATED_CREATE = new LuaScript(
  'otp_gated_create',
  `${GATES_LUA}${PUMP_OBSERVE_LUA}
local n = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local blocked, retry, reason, remaining = gates_check(n, 3, now)
if blocked > 0 then return {blocked, retry, reason, 0, 0} end
local o = 3 + n * 3
local ch = KEYS[n + 1]
if redis.call('EXISTS', ch) == 1 then return {-1, 0, '', 0, 0} end
gates_consume(n, 3, now, ARGV[3])
local np = tonumber(ARGV[o + 6])
local fields = {}
for i = o + 7 + np, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', ch, unpack(fields))
redis.call('PEXPIRE', ch, ARGV[o + 1])
redis.call('ZADD', KEYS[n + 2], ARGV[o + 2], ARGV[o + 3])
local alert = 0
if ARGV[o + 4] ~= '' then
  local c = redis.call('INCR', KEYS[n + 3])
  if c == 1 then redis.call('PEXPIRE', KEYS[n + 3], ARGV[o + 5]) end
  if c >= tonumber(ARGV[o + 4]) and redis.call('SET', KEYS[n + 4], '1', 'PX', ARGV[o + 5], 'NX') then alert = c end
end
if np == 0 then return {0, 0, '', remaining, alert} end
local ok, seen = pcall(pump_observe, n + 4, o + 6)
if not ok then return {0, 0, '', remaining, alert, 'failed'} end
return {0, 0, '', remaining, alert, seen[1], seen[2], seen[3], seen[4]}
`,
);

/**
 * A resend in one step: the challenge's own refusals first (not found, ended, expired, another
 * send current, max sends, cooldown), so that a refused resend takes nothing from the limits;
 * then the send gates (as for a start), and only if all pass, their units, the new code and the
 * pumping observation of a number (when ARGV[o + 14], its argument count, is not 0). KEYS: the
 * gates, the challenge, the expiry index, the observation's 7 keys. ARGV: gate count, now,
 * ticket, the gates' arguments, then from o = 3 + 3n the resend's (see `resend` below).
 */
const GATED_RESEND = new LuaScript(
  'otp_gated_resend',
  `${GATES_LUA}${PUMP_OBSERVE_LUA}
local n = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local o = 3 + n * 3
local ch = KEYS[n + 1]
if redis.call('EXISTS', ch) == 0 then return {'not_found', 0, 0, 0, 0} end
local f = redis.call('HMGET', ch, 'status', 'expiresAt', 'sends', 'resendAt', 'messageId', 'id')
local status, exp, sends, resendAt, mid, id = f[1], tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), f[5], f[6]
if status ~= 'pending' then return {status, sends, resendAt, exp, 0} end
if now >= exp then
  redis.call('HSET', ch, 'status', 'expired', 'digest', '')
  redis.call('ZREM', KEYS[n + 2], id)
  return {'expired_now', sends, resendAt, exp, 0}
end
if ARGV[o + 13] ~= '' and mid ~= ARGV[o + 13] then return {'stale', sends, resendAt, exp, 0} end
if sends >= tonumber(ARGV[o + 1]) then return {'max_sends', sends, resendAt, exp, exp - now} end
if ARGV[o + 4] ~= '1' and now < resendAt then return {'cooldown', sends, resendAt, exp, resendAt - now} end
local blocked, retry, reason, remaining = gates_check(n, 3, now)
if blocked > 0 then return {'limited', sends, resendAt, exp, 0, blocked, retry, reason, 0} end
gates_consume(n, 3, now, ARGV[3])
sends = sends + 1
local newExp = now + tonumber(ARGV[o + 7])
local cooldown = math.min(tonumber(ARGV[o + 3]), tonumber(ARGV[o + 2]) * (2 ^ (sends - 1)))
local nextAt = now + cooldown
-- The new digest replaces the old one: the old code is dead from here (C9).
redis.call('HSET', ch, 'digest', ARGV[o + 6], 'kid', ARGV[o + 5], 'expiresAt', newExp, 'sends', sends,
  'lastSentAt', now, 'resendAt', nextAt, 'channel', ARGV[o + 9], 'messageId', ARGV[o + 11])
if ARGV[o + 10] ~= '' then redis.call('HSET', ch, 'destination', ARGV[o + 10]) else redis.call('HDEL', ch, 'destination') end
if ARGV[o + 12] ~= '' then redis.call('HSET', ch, 'prefix', ARGV[o + 12]) else redis.call('HDEL', ch, 'prefix') end
redis.call('HDEL', ch, 'dlvStatus', 'dlvChannel', 'dlvReason', 'dlvAt')
redis.call('PEXPIRE', ch, tonumber(ARGV[o + 7]) + tonumber(ARGV[o + 8]))
redis.call('ZADD', KEYS[n + 2], newExp, id)
if tonumber(ARGV[o + 14]) == 0 then return {'ok', sends, nextAt, newExp, 0} end
local ok, seen = pcall(pump_observe, n + 2, o + 14)
if not ok then return {'ok', sends, nextAt, newExp, 0, 'failed'} end
return {'ok', sends, nextAt, newExp, 0, seen[1], seen[2], seen[3], seen[4]}
`,
);

/**
 * A send that never left: what it took from the limits is given back (KEYS[2..], ARGV[13..15],
 * whether or not it is still the current send), then, if it is, the challenge is put back.
 */
const UNDO_COOLDOWN = new LuaScript(
  'otp_undo_cooldown',
  `${REFUND_LUA}
local ch = KEYS[1]
send_refund(1, tonumber(ARGV[14]), tonumber(ARGV[15]), ARGV[13])
if redis.call('HGET', ch, 'messageId') ~= ARGV[1] then return 0 end
if ARGV[4] == '' then
  -- Not a send either for the challenge's at most OTP_MAX_SENDS. The never-sent code's digest
  -- stays (the old code is dead, C9): the person asks again at once.
  local left = math.max(1, tonumber(redis.call('HGET', ch, 'sends') or '1') - 1)
  redis.call('HSET', ch, 'sends', left, 'resendAt', ARGV[2], 'dlvStatus', 'failed', 'dlvChannel', ARGV[3], 'dlvReason', 'not_queued', 'dlvAt', ARGV[2])
  return 1
end
-- An automatic fallback whose message never left: the failed send is current again (channel,
-- destination, send count, cooldown, its delivery outcome), so the bus's retry of that outcome
-- finds it and falls back again. The never-sent code's digest stays: the old code is dead (C9).
local sends = math.max(0, tonumber(redis.call('HGET', ch, 'sends') or '1') - 1)
redis.call('HSET', ch, 'messageId', ARGV[4], 'channel', ARGV[5], 'sends', sends, 'resendAt', ARGV[6])
if ARGV[7] ~= '' then redis.call('HSET', ch, 'destination', ARGV[7]) else redis.call('HDEL', ch, 'destination') end
if ARGV[8] ~= '' then redis.call('HSET', ch, 'prefix', ARGV[8]) else redis.call('HDEL', ch, 'prefix') end
if ARGV[9] ~= '' then
  redis.call('HSET', ch, 'dlvStatus', ARGV[9], 'dlvChannel', ARGV[10], 'dlvReason', ARGV[11], 'dlvAt', ARGV[12])
else
  redis.call('HDEL', ch, 'dlvStatus', 'dlvChannel', 'dlvReason', 'dlvAt')
end
return 2
`,
);

/** A start whose code never left: the challenge goes, and what its send took from the limits comes back. */
const DISCARD = new LuaScript(
  'otp_discard',
  `${REFUND_LUA}
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
send_refund(2, tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[2])
return 1
`,
);

const DELIVERY = new LuaScript(
  'otp_delivery',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found', ''} end
local f = redis.call('HMGET', KEYS[1], 'messageId', 'status', 'channel')
if f[1] ~= ARGV[1] then return {'stale', f[2]} end
local channel = ARGV[3]
if channel == '' then channel = f[3] end
redis.call('HSET', KEYS[1], 'dlvStatus', ARGV[2], 'dlvChannel', channel, 'dlvReason', ARGV[4], 'dlvAt', ARGV[5])
return {'recorded', f[2]}
`,
);

const REPORT = new LuaScript(
  'otp_report',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found', ''} end
local f = redis.call('HMGET', KEYS[1], 'status', 'reported', 'id')
if f[2] == '1' then return {'already', f[1]} end
redis.call('HSET', KEYS[1], 'reported', '1')
if f[1] == 'pending' then
  redis.call('HSET', KEYS[1], 'status', 'expired', 'endReason', 'reported', 'digest', '')
  redis.call('ZREM', KEYS[2], f[3])
  return {'killed', f[1]}
end
return {'reported', f[1]}
`,
);

const SWEEP = new LuaScript(
  'otp_sweep',
  `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local k = ARGV[3] .. id
  local f = redis.call('HMGET', k, 'status', 'expiresAt')
  if f[1] == 'pending' and tonumber(f[2]) <= tonumber(ARGV[1]) then
    redis.call('HSET', k, 'status', 'expired', 'digest', '')
    out[#out + 1] = id
  end
end
return out
`,
);

export type CheckOutcome =
  | 'not_found'
  | 'used'
  | 'locked'
  | 'expired'
  | 'expired_now'
  | 'account_locked'
  | 'stale'
  | 'approved'
  | 'mismatch'
  | 'locked_now';

export interface CheckApplied {
  outcome: CheckOutcome;
  attemptsLeft: number;
  accountFailures: number;
  accountLockMs: number;
}

export interface CheckRequest {
  id: string;
  /** The stored digest (hex) the caller compared against. */
  observedDigest: string;
  match: boolean;
  nowMs: number;
  purpose?: ChallengePurpose;
  /** When set, the challenge's ref must equal it (undefined ref = none). */
  ref?: { value: string | undefined };
  /** The challenge's account: a sign-in is refused while the account is locked. */
  accountId?: string;
  /**
   * Whether this check counts towards the account's consecutive failures and a success clears
   * them and its unrequested sign-in codes (`count`, C8: the account's own challenges, over the
   * bus), only a success clears them (`clear`: a password reset, which anyone can start), or
   * neither (`none`: a storefront's challenge).
   */
  accountCounts: 'count' | 'clear' | 'none';
  account: { failureLimit: number; failureWindowMs: number; lockMs: number };
  /** Where an approval is counted for the number's prefix (pumping conversion). */
  verified?: { key: string; ttlMs: number };
  /** The account's unrequested-code keys, cleared by an approved sign-in. */
  unrequested?: [string, string];
}

export interface CreateOptions {
  retentionMs: number;
  gates: readonly Gate[];
  nowMs: number;
  /** Count this sign-in code for the account; the reply says when an alert is due. */
  unrequested?: { keys: [string, string]; threshold: number; windowMs: number };
  /** Observe the send for the pumping signals in the same step (a phone destination). */
  pump?: PumpCall;
}

export interface CreateResult {
  gates: GateResult;
  /** When the gates passed: what the send took from the limits, for `discard` if it never leaves. */
  refund?: Refund;
  /** > 0: the count of unrequested sign-in codes, an alert is due now. */
  unrequestedAlert: number;
  /** What the pumping observation found, when one was asked for and the gates passed. */
  observed?: PumpObservation | 'failed';
}

export type ResendOutcome =
  | ChallengeStatus
  | 'not_found'
  | 'expired_now'
  | 'stale'
  | 'max_sends'
  | 'cooldown'
  | 'limited'
  | 'ok';

export interface ResendRequest {
  id: string;
  nowMs: number;
  /** The send gates, passed and consumed only by a resend the challenge allows now. */
  gates: readonly Gate[];
  /** Observe the send for the pumping signals in the same step (a phone destination). */
  pump?: PumpCall;
  maxSends: number;
  cooldownMs: number;
  cooldownMaxMs: number;
  bypassCooldown: boolean;
  kid: string;
  digest: string;
  ttlMs: number;
  retentionMs: number;
  channel: Channel;
  destination?: string;
  messageId: string;
  prefix?: string;
  /** Only if the current send is still this one (automatic fallback). */
  expectMessageId?: string;
}

export interface ResendApplied {
  outcome: ResendOutcome;
  sends: number;
  resendAt: number;
  expiresAt: number;
  retryAfterMs: number;
  /** `limited`: the gate that refused. */
  refused?: Extract<GateResult, { passed: false }>;
  /** `ok`: what the send took from the limits, for `undoCooldown` if it never leaves. */
  refund?: Refund;
  /** `ok`: what the pumping observation found, when one was asked for. */
  observed?: PumpObservation | 'failed';
}

/** The send an automatic fallback replaced, as it was before the fallback. */
export type RestoredSend = Pick<
  ChallengeRecord,
  'messageId' | 'channel' | 'destination' | 'prefix' | 'resendAt' | 'delivery'
>;

export interface UndoSendRequest {
  id: string;
  /** The send that never left (nothing happens if it is no longer the current one). */
  messageId: string;
  nowMs: number;
  channel: Channel;
  restore?: RestoredSend;
  /** What the send took from the limits: given back. */
  refund?: Refund;
}

/** The port the challenge use cases depend on. */
export interface ChallengeStore {
  /** Passes the gates and creates the challenge in one atomic step (nothing is created or counted when a gate refuses). */
  create(record: ChallengeRecord, options: CreateOptions): Promise<CreateResult>;
  load(id: string): Promise<ChallengeRecord | undefined>;
  /** The challenge a bus caller started for this purpose and reference, if one is remembered. */
  startedFor(purpose: ChallengePurpose, ref: string): Promise<string | undefined>;
  /** Remembers that start for `ttlMs`, so a start retried after a lost answer finds it. */
  rememberStart(purpose: ChallengePurpose, ref: string, id: string, ttlMs: number): Promise<void>;
  /** A start whose code never left: removes the challenge and gives back what its send took. */
  discard(id: string, refund: Refund | undefined): Promise<void>;
  check(request: CheckRequest): Promise<CheckApplied>;
  /** Passes the gates and resends in one atomic step, the challenge's own refusals first. */
  resend(request: ResendRequest): Promise<ResendApplied>;
  /**
   * A send that certainly never left: what it took from the limits is given back, it does not
   * count towards the challenge's maximum sends, its cooldown is lifted and it is marked not
   * queued; for an automatic fallback (`restore`), the send it replaced becomes current again.
   */
  undoCooldown(request: UndoSendRequest): Promise<void>;
  recordDelivery(
    id: string,
    messageId: string,
    outcome: DeliveryOutcome,
    channel: Channel | undefined,
    reason: string,
    atMs: number,
  ): Promise<'not_found' | 'stale' | 'recorded'>;
  report(
    id: string,
  ): Promise<{ outcome: 'not_found' | 'already' | 'killed' | 'reported'; previous: string }>;
  sweep(nowMs: number, limit: number): Promise<string[]>;
  accountFailures(accountId: string): Promise<{ failures: number; ttlMs: number }>;
}

const EXPIRY_INDEX = 'ch:expiry';
const chKey = (id: string) => `ch:${id}`;
const startKey = (purpose: ChallengePurpose, ref: string) => `chstart:${purpose}:${ref}`;
const afKey = (accountId: string) => `af:${accountId}`;
const NO_ACCOUNT = 'af:-';

export class RedisChallengeStore implements ChallengeStore {
  constructor(private readonly redis: Redis) {}

  create(record: ChallengeRecord, o: CreateOptions): Promise<CreateResult> {
    return storeCall('code store', () => {
      const ticket = newTicket(o.nowMs);
      const ttl = record.expiresAt - record.createdAt + o.retentionMs;
      const keys: string[] = [];
      for (const g of o.gates) keys.push(g.key);
      keys.push(chKey(record.id), EXPIRY_INDEX);
      if (o.unrequested) keys.push(o.unrequested.keys[0], o.unrequested.keys[1]);
      else keys.push('unreq:-', 'unreq:alerted:-');
      const args: (string | number)[] = [o.gates.length, o.nowMs, ticket];
      gateArgs(o.gates, args);
      args.push(
        ttl,
        record.expiresAt,
        record.id,
        o.unrequested ? o.unrequested.threshold : '',
        o.unrequested ? o.unrequested.windowMs : 0,
        o.pump ? o.pump.args.length : 0,
      );
      if (o.pump) {
        for (const k of o.pump.keys) keys.push(k);
        for (const a of o.pump.args) args.push(a);
      }
      const fields = serialize(record);
      for (const name in fields) args.push(name, fields[name]!);
      return GATED_CREATE.run(this.redis, keys, args).then((answer) => {
        const reply = answer as unknown[];
        if (Number(reply[0]) === -1) throw new Error('challenge id collision');
        const gates = gateResult(o.gates, reply, ticket);
        const result: CreateResult = {
          gates,
          unrequestedAlert: Number(reply[4] ?? 0),
          ...(gates.passed
            ? { refund: refundOf(o.gates, ticket, o.pump ? [o.pump.sentKey] : []) }
            : {}),
        };
        if (reply.length > 5)
          result.observed = reply[5] === 'failed' ? 'failed' : pumpObservation(reply, 5);
        return result;
      });
    });
  }

  load(id: string): Promise<ChallengeRecord | undefined> {
    return storeCall('code store', () => this.redis.hgetall(chKey(id)).then(deserialize));
  }

  discard(id: string, refund: Refund | undefined): Promise<void> {
    return storeCall('code store', async () => {
      const keys = [chKey(id), EXPIRY_INDEX];
      const args: (string | number)[] = [id];
      refundCall(refund, keys, args);
      await DISCARD.run(this.redis, keys, args);
    });
  }

  check(r: CheckRequest): Promise<CheckApplied> {
    return storeCall('code store', () =>
      CHECK.run(
        this.redis,
        [
          chKey(r.id),
          EXPIRY_INDEX,
          r.accountId ? afKey(r.accountId) : NO_ACCOUNT,
          r.verified?.key ?? 'pump:v:-',
          ...(r.unrequested ?? ['unreq:-', 'unreq:alerted:-']),
        ],
        [
          r.observedDigest,
          r.match ? '1' : '0',
          r.nowMs,
          r.purpose ?? '',
          r.ref?.value ?? '',
          r.ref ? '1' : '0',
          r.account.failureLimit,
          r.account.failureWindowMs,
          r.account.lockMs,
          r.accountId ? '1' : '0',
          r.verified ? r.verified.ttlMs : '',
          r.accountCounts === 'count' ? '1' : r.accountCounts,
        ],
      ).then((answer) => {
        const reply = answer as [string, number, number, number];
        return {
          outcome: reply[0] as CheckOutcome,
          attemptsLeft: Number(reply[1]),
          accountFailures: Number(reply[2]),
          accountLockMs: Math.max(0, Number(reply[3])),
        };
      }),
    );
  }

  resend(r: ResendRequest): Promise<ResendApplied> {
    return storeCall('code store', async () => {
      const ticket = newTicket(r.nowMs);
      const keys: string[] = [];
      for (const g of r.gates) keys.push(g.key);
      keys.push(chKey(r.id), EXPIRY_INDEX);
      const args: (string | number)[] = [r.gates.length, r.nowMs, ticket];
      gateArgs(r.gates, args);
      args.push(
        r.maxSends,
        r.cooldownMs,
        r.cooldownMaxMs,
        r.bypassCooldown ? '1' : '0',
        r.kid,
        r.digest,
        r.ttlMs,
        r.retentionMs,
        r.channel,
        r.destination ?? '',
        r.messageId,
        r.prefix ?? '',
        r.expectMessageId ?? '',
        r.pump ? r.pump.args.length : 0,
      );
      if (r.pump) {
        keys.push(...r.pump.keys);
        args.push(...r.pump.args);
      }
      const reply = (await GATED_RESEND.run(this.redis, keys, args)) as unknown[];
      const applied: ResendApplied = {
        outcome: reply[0] as ResendOutcome,
        sends: Number(reply[1]),
        resendAt: Number(reply[2]),
        expiresAt: Number(reply[3]),
        retryAfterMs: Number(reply[4]),
      };
      if (applied.outcome === 'limited') {
        const refused = gateResult(r.gates, reply.slice(5), ticket);
        if (!refused.passed) applied.refused = refused;
      }
      if (applied.outcome === 'ok') {
        applied.refund = refundOf(r.gates, ticket, r.pump ? [r.pump.sentKey] : []);
        if (reply.length > 5)
          applied.observed = reply[5] === 'failed' ? 'failed' : pumpObservation(reply, 5);
      }
      return applied;
    });
  }

  undoCooldown({ id, messageId, nowMs, channel, restore, refund }: UndoSendRequest): Promise<void> {
    const previous = restore
      ? [
          restore.messageId,
          restore.channel,
          restore.resendAt,
          restore.destination ?? '',
          restore.prefix ?? '',
          restore.delivery?.status ?? '',
          restore.delivery?.channel ?? '',
          restore.delivery?.reason ?? '',
          restore.delivery?.at ?? '',
        ]
      : ['', '', '', '', '', '', '', '', ''];
    return storeCall('code store', async () => {
      const keys = [chKey(id)];
      const args: (string | number)[] = [messageId, nowMs, channel, ...previous];
      refundCall(refund, keys, args);
      await UNDO_COOLDOWN.run(this.redis, keys, args);
    });
  }

  recordDelivery(
    id: string,
    messageId: string,
    outcome: DeliveryOutcome,
    channel: Channel | undefined,
    reason: string,
    atMs: number,
  ) {
    return storeCall('code store', async () => {
      const reply = (await DELIVERY.run(
        this.redis,
        [chKey(id)],
        [messageId, outcome, channel ?? '', reason, atMs],
      )) as [string, string];
      return reply[0] as 'not_found' | 'stale' | 'recorded';
    });
  }

  startedFor(purpose: ChallengePurpose, ref: string): Promise<string | undefined> {
    return storeCall(
      'code store',
      async () => (await this.redis.get(startKey(purpose, ref))) ?? undefined,
    );
  }

  rememberStart(purpose: ChallengePurpose, ref: string, id: string, ttlMs: number): Promise<void> {
    return storeCall('code store', async () => {
      await this.redis.set(startKey(purpose, ref), id, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
    });
  }

  report(id: string) {
    return storeCall('code store', async () => {
      const reply = (await REPORT.run(this.redis, [chKey(id), EXPIRY_INDEX], [])) as [
        string,
        string,
      ];
      return {
        outcome: reply[0] as 'not_found' | 'already' | 'killed' | 'reported',
        previous: reply[1],
      };
    });
  }

  sweep(nowMs: number, limit: number): Promise<string[]> {
    return storeCall('code store', async () => {
      // The sweeper reads challenge hashes by id, so it needs the client's key prefix.
      const prefix = `${this.redis.options.keyPrefix ?? ''}ch:`;
      return (await SWEEP.run(this.redis, [EXPIRY_INDEX], [nowMs, limit, prefix])) as string[];
    });
  }

  accountFailures(accountId: string) {
    return storeCall('code store', async () => {
      const [[, count], [, ttl]] = (await this.redis
        .multi()
        .get(afKey(accountId))
        .pttl(afKey(accountId))
        .exec()) as [[unknown, string | null], [unknown, number]];
      return { failures: Number(count ?? 0), ttlMs: Math.max(0, Number(ttl)) };
    });
  }
}

function serialize(r: ChallengeRecord): Record<string, string> {
  const out: Record<string, string> = {
    id: r.id,
    purpose: r.purpose,
    status: r.status,
    channel: r.channel,
    kid: r.kid,
    digest: r.digest,
    createdAt: String(r.createdAt),
    expiresAt: String(r.expiresAt),
    attemptsLeft: String(r.attemptsLeft),
    sends: String(r.sends),
    lastSentAt: String(r.lastSentAt),
    resendAt: String(r.resendAt),
    messageId: r.messageId,
    twoStep: r.twoStep ? '1' : '0',
    reported: r.reported ? '1' : '0',
    origin: r.origin,
  };
  const optional: [string, string | undefined][] = [
    ['client', r.client],
    ['endReason', r.endReason],
    ['accountId', r.accountId],
    ['phoneId', r.phoneId],
    ['ref', r.ref],
    ['destination', r.destination],
    ['phone', r.phone],
    ['locale', r.locale],
    ['prefix', r.prefix],
  ];
  for (const [k, v] of optional) if (v !== undefined) out[k] = v;
  return out;
}

function deserialize(h: Record<string, string>): ChallengeRecord | undefined {
  if (!h['id']) return undefined;
  const opt = (k: string) => (h[k] === undefined || h[k] === '' ? undefined : h[k]);
  const record: ChallengeRecord = {
    id: h['id'],
    purpose: h['purpose'] as ChallengePurpose,
    status: h['status'] as ChallengeStatus,
    channel: h['channel'] as Channel,
    kid: h['kid'] ?? '',
    digest: h['digest'] ?? '',
    createdAt: Number(h['createdAt']),
    expiresAt: Number(h['expiresAt']),
    attemptsLeft: Number(h['attemptsLeft']),
    sends: Number(h['sends']),
    lastSentAt: Number(h['lastSentAt']),
    resendAt: Number(h['resendAt']),
    messageId: h['messageId'] ?? '',
    twoStep: h['twoStep'] === '1',
    reported: h['reported'] === '1',
    // Fails closed: a record from before the field is not reachable over HTTP.
    origin: h['origin'] === 'http' ? 'http' : 'bus',
  };
  const assign = <K extends keyof ChallengeRecord>(k: K, v: ChallengeRecord[K] | undefined) => {
    if (v !== undefined) record[k] = v;
  };
  assign('client', opt('client'));
  assign('endReason', opt('endReason'));
  assign('accountId', opt('accountId'));
  assign('phoneId', opt('phoneId'));
  assign('ref', opt('ref'));
  assign('destination', opt('destination'));
  assign('phone', opt('phone'));
  assign('locale', opt('locale'));
  assign('prefix', opt('prefix'));
  if (h['dlvStatus']) {
    record.delivery = {
      status: h['dlvStatus'] as DeliveryOutcome,
      channel: (h['dlvChannel'] ?? record.channel) as Channel,
      ...(h['dlvReason'] ? { reason: h['dlvReason'] } : {}),
      at: Number(h['dlvAt']),
    };
  }
  return record;
}
