import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LuaScript, storeCall } from '../redis/lua-script';

/**
 * One gate a send (or a factor attempt) must pass. All gates of a request are
 * evaluated and consumed in ONE Lua script, so under any number of parallel
 * requests a limit of N lets exactly N through (SECURITY S1, S2).
 *
 * - `window`: sliding-window log (sorted set of timestamps), `max` per `ms`.
 * - `counter`: fixed counter that expires `ms` from its first hit (daily ceilings).
 * - `quarantine`: blocked while the key exists; its value is the reason.
 * - `threshold`: blocked while the counter at the key is ≥ `max` (account lock).
 */
export type Gate =
  | { kind: 'window'; name: string; key: string; max: number; ms: number }
  | { kind: 'counter'; name: string; key: string; max: number; ms: number }
  | { kind: 'quarantine'; name: string; key: string }
  | { kind: 'threshold'; name: string; key: string; max: number };

/**
 * Lua functions shared by every script that passes gates before its own
 * effect (the gates alone, and "pass the gates, then create the challenge").
 * Gates are KEYS[1..n]; their kinds, limits and windows are ARGV[base + 3i - 2 ..].
 */
export const GATES_LUA = `
local function gates_check(n, base, now)
  local blocked, retry, reason, remaining = 0, 0, '', -1
  for i = 1, n do
    local kind = ARGV[base + i * 3 - 2]
    local max = tonumber(ARGV[base + i * 3 - 1])
    local ms = tonumber(ARGV[base + i * 3])
    local hit, wait = false, 0
    if kind == 'w' then
      redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - ms)
      local count = redis.call('ZCARD', KEYS[i])
      if count >= max then
        -- The slot frees when the entry (count - max) from the oldest leaves the window.
        local e = redis.call('ZRANGE', KEYS[i], count - max, count - max, 'WITHSCORES')
        hit, wait = true, tonumber(e[2]) + ms - now
      elseif remaining < 0 or max - count - 1 < remaining then
        remaining = max - count - 1
      end
    elseif kind == 'c' or kind == 't' then
      local count = tonumber(redis.call('GET', KEYS[i]) or '0')
      if count >= max then hit, wait = true, redis.call('PTTL', KEYS[i]) end
    elseif kind == 'q' then
      local why = redis.call('GET', KEYS[i])
      if why then
        hit, wait = true, redis.call('PTTL', KEYS[i])
        if blocked == 0 then reason = why end
      end
    end
    if hit then
      if blocked == 0 then blocked = i end
      if wait > retry then retry = wait end
    end
  end
  return blocked, retry, reason, remaining
end
local function gates_consume(n, base, now, member)
  for i = 1, n do
    local kind = ARGV[base + i * 3 - 2]
    local ms = tonumber(ARGV[base + i * 3])
    if kind == 'w' then
      redis.call('ZADD', KEYS[i], now, member)
      redis.call('PEXPIRE', KEYS[i], ms)
    elseif kind == 'c' then
      if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ms) end
    end
  end
end
`;

const PASS = new LuaScript(
  'otp_gates',
  `${GATES_LUA}
local n = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local blocked, retry, reason, remaining = gates_check(n, 3, now)
if blocked > 0 then return {blocked, retry, reason, 0} end
gates_consume(n, 3, now, ARGV[3])
return {0, 0, '', remaining}
`,
);

/** ARGV of the gates (after the caller's first ARGV entries): kind, max, window per gate; appended to `args` when given. */
export function gateArgs(
  gates: readonly Gate[],
  args: (string | number)[] = [],
): (string | number)[] {
  for (const g of gates) {
    const code =
      g.kind === 'window' ? 'w' : g.kind === 'counter' ? 'c' : g.kind === 'quarantine' ? 'q' : 't';
    args.push(
      code,
      g.kind === 'quarantine' ? 0 : g.max,
      g.kind === 'window' || g.kind === 'counter' ? g.ms : 0,
    );
  }
  return args;
}

/** Reads a gates reply `[index, retryMs, reason, remaining]` (index 0: passed). */
export function gateResult(
  gates: readonly Gate[],
  reply: readonly unknown[],
  ticket: string,
): GateResult {
  const [index, retry, reason, remaining] = reply as [number, number, string, number];
  if (Number(index) === 0)
    return {
      passed: true,
      ticket,
      ...(Number(remaining) >= 0 ? { remaining: Number(remaining) } : {}),
    };
  const gate = gates[Number(index) - 1] as Gate;
  return {
    passed: false,
    gate,
    retryAfterMs: Math.max(1000, Number(retry)),
    ...(reason ? { reason } : {}),
  };
}

const PROCESS_TAG = randomBytes(6).toString('hex');
let ticketSeq = 0;

/** A unique member for the sliding-window sets (time, process, sequence): no random draw per request. */
export function newTicket(nowMs: number): string {
  ticketSeq = (ticketSeq + 1) % Number.MAX_SAFE_INTEGER;
  return `${nowMs}-${PROCESS_TAG}-${ticketSeq.toString(36)}`;
}

/**
 * Gives back what a passed request took (a send that never left, a factor attempt that
 * succeeded): its entry in each sliding window (KEYS[k + 1 .. k + nw], by its ticket) and one
 * unit of each counter (KEYS[k + nw + 1 .. k + nw + nc]: a daily ceiling, a prefix's send count).
 */
export const REFUND_LUA = `
local function send_refund(k, nw, nc, ticket)
  for i = k + 1, k + nw do redis.call('ZREM', KEYS[i], ticket) end
  for i = k + nw + 1, k + nw + nc do
    if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
  end
end
`;

/** What to give back for one passed request (see REFUND_LUA). */
export interface Refund {
  ticket: string;
  windows: string[];
  counters: string[];
}

/** The refund of a request that passed `gates` with `ticket`, plus other counters it added to. */
export function refundOf(gates: readonly Gate[], ticket: string, counters: string[] = []): Refund {
  const keysOf = (kind: Gate['kind']) => gates.filter((g) => g.kind === kind).map((g) => g.key);
  return { ticket, windows: keysOf('window'), counters: [...keysOf('counter'), ...counters] };
}

/** KEYS and ARGV (`ticket, nw, nc`) of a `send_refund`, appended to the given arrays. */
export function refundCall(
  refund: Refund | undefined,
  keys: string[],
  args: (string | number)[],
): void {
  if (!refund) {
    args.push('', 0, 0);
    return;
  }
  keys.push(...refund.windows, ...refund.counters);
  args.push(refund.ticket, refund.windows.length, refund.counters.length);
}

const REFUND = new LuaScript(
  'otp_gates_refund',
  `${REFUND_LUA}
send_refund(0, tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[1])
return 1
`,
);

export type GateResult =
  | {
      passed: true;
      ticket: string;
      /** Units left in the tightest window after this one (undefined: no window). */ remaining?: number;
    }
  | { passed: false; gate: Gate; retryAfterMs: number; reason?: string };

export class RedisGates {
  /** `redis`: also for the stores a gated use case keeps next to its gates (the factors' step-ups). */
  constructor(readonly redis: Redis) {}

  /** Passes every gate and consumes one unit of each, or none when any blocks. */
  pass(gates: readonly Gate[], nowMs: number): Promise<GateResult> {
    return storeCall('limit store', async () => {
      const ticket = newTicket(nowMs);
      if (gates.length === 0) return { passed: true, ticket };
      const reply = (await PASS.run(
        this.redis,
        gates.map((g) => g.key),
        [gates.length, nowMs, ticket, ...gateArgs(gates)],
      )) as unknown[];
      return gateResult(gates, reply, ticket);
    });
  }

  /** Gives back the window slots of a passed request (e.g. a factor attempt that succeeded). */
  refund(gates: readonly Gate[], ticket: string): Promise<void> {
    return storeCall('limit store', async () => {
      const { windows } = refundOf(gates, ticket);
      if (windows.length) await REFUND.run(this.redis, windows, [ticket, windows.length, 0]);
    });
  }
}
