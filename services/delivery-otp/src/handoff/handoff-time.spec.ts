import { handoffTimeVerdict } from './handoff-time';

const MIN = 60_000;
const ws = Date.parse('2026-11-22T09:00:00Z');
const we = Date.parse('2026-11-22T13:00:00Z');
const base = { windowStartMs: ws, windowEndMs: we, expiresAtMs: we + 30 * MIN, toleranceMs: 2 * MIN };

describe('handoffTimeVerdict', () => {
  it('accepts an online handoff inside the window', () => {
    expect(handoffTimeVerdict({ ...base, nowMs: ws + 60 * MIN, atMs: ws + 60 * MIN + 30_000 })).toEqual({ ok: true });
  });

  it('accepts a device clock a little behind at the window start, by server time', () => {
    expect(handoffTimeVerdict({ ...base, nowMs: ws + 30_000, atMs: ws - 60_000 })).toEqual({ ok: true });
  });

  it('accepts a request arriving just after the window end when the device time is inside', () => {
    expect(handoffTimeVerdict({ ...base, nowMs: we + 60_000, atMs: we - 10_000 })).toEqual({ ok: true });
  });

  it('refuses an online handoff before the window opens', () => {
    expect(handoffTimeVerdict({ ...base, nowMs: ws - 10 * MIN, atMs: ws - 10 * MIN })).toEqual({ ok: false, reason: 'outside_window' });
  });

  it('refuses an online handoff after the window end, inside the grace', () => {
    expect(handoffTimeVerdict({ ...base, nowMs: we + 10 * MIN, atMs: we + 10 * MIN })).toEqual({ ok: false, reason: 'outside_window' });
  });

  it('accepts a late submission from an offline device whose time is inside the window, before window end + grace', () => {
    expect(handoffTimeVerdict({ ...base, nowMs: we + 25 * MIN, atMs: we - 5 * MIN })).toEqual({ ok: true });
  });

  it('refuses a late submission whose device time is outside the window', () => {
    expect(handoffTimeVerdict({ ...base, nowMs: we + 25 * MIN, atMs: we + 5 * MIN })).toEqual({ ok: false, reason: 'outside_window' });
    expect(handoffTimeVerdict({ ...base, nowMs: ws + 60 * MIN, atMs: ws - 60 * MIN })).toEqual({ ok: false, reason: 'outside_window' });
  });

  it('refuses any submission after window end + grace', () => {
    expect(handoffTimeVerdict({ ...base, nowMs: we + 31 * MIN, atMs: we - 5 * MIN })).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses a device time ahead of server time beyond the tolerance', () => {
    expect(handoffTimeVerdict({ ...base, nowMs: ws + 60 * MIN, atMs: ws + 63 * MIN })).toEqual({ ok: false, reason: 'device_clock_ahead' });
    expect(handoffTimeVerdict({ ...base, nowMs: ws + 60 * MIN, atMs: ws + 62 * MIN })).toEqual({ ok: true });
  });
});
