/**
 * When a handoff may be confirmed (README "Handoff time rule"). `at` is the
 * device's clock, `now` the server's. The same rule runs inside the atomic
 * Redis check (handoff.lua); this function is its reference and is tested
 * against it.
 *
 * 1. The code must still live: now <= windowEnd + grace (= expiresAt).
 * 2. `at` may not be later than now + tolerance (a device clock ahead).
 * 3. Online submission (|at - now| <= tolerance): the moment is inside the
 *    window by either clock (windowStart <= at <= windowEnd, or the same for now).
 * 4. Late submission from an offline device (at < now - tolerance): `at`
 *    itself must be inside the window; rule 1 bounds how late it may arrive.
 */
export type HandoffTimeVerdict = { ok: true } | { ok: false; reason: 'expired' | 'device_clock_ahead' | 'outside_window' };

export interface HandoffTimes {
  nowMs: number;
  atMs: number;
  windowStartMs: number;
  windowEndMs: number;
  expiresAtMs: number;
  toleranceMs: number;
}

const inside = (t: number, start: number, end: number) => t >= start && t <= end;

export function handoffTimeVerdict(t: HandoffTimes): HandoffTimeVerdict {
  if (t.nowMs > t.expiresAtMs) return { ok: false, reason: 'expired' };
  if (t.atMs > t.nowMs + t.toleranceMs) return { ok: false, reason: 'device_clock_ahead' };
  const online = t.atMs >= t.nowMs - t.toleranceMs;
  const ok = online
    ? inside(t.atMs, t.windowStartMs, t.windowEndMs) || inside(t.nowMs, t.windowStartMs, t.windowEndMs)
    : inside(t.atMs, t.windowStartMs, t.windowEndMs);
  return ok ? { ok: true } : { ok: false, reason: 'outside_window' };
}
