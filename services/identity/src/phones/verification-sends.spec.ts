import { DomainError } from '@phonegate/platform';
import { refusalOf } from '@phonegate/platform/testing';
import { unansweredSend } from '../otp/otp-errors';
import {
  afterResend,
  afterStart,
  cooldownAfter,
  longerRefusal,
  sendsBeforeNext,
  type VerificationSends,
  withRowChallenge,
  withVerificationCooldown,
} from './verification-sends';

const now = Date.parse('2026-12-07T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const challengeId = '3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b10';
const otherId = '5f0c7c1a-7a9e-4c57-8d0e-4a1c2b3d4e5f';

function latest(status: 'pending' | 'locked' | 'expired' | 'approved', sends: number, resendInMs: number, id = challengeId) {
  return { id, status, sends, resendAvailableAt: iso(now + resendInMs), expiresAt: iso(now + 600_000) };
}


describe('cooldownAfter', () => {
  it('doubles the first cooldown each send (30 s, 60 s, 120 s…), up to otp’s longest when known', () => {
    expect([1, 2, 3, 4].map((n) => cooldownAfter(n, 30_000))).toEqual([30_000, 60_000, 120_000, 240_000]);
    expect([1, 2, 3].map((n) => cooldownAfter(n, 30_000, 45_000))).toEqual([30_000, 45_000, 45_000]);
  });
});

describe('sendsBeforeNext', () => {
  it('without a record: otp’s own cooldown and the challenge’s sends', () => {
    expect(sendsBeforeNext(latest('pending', 2, -1), undefined, now)).toBe(2);
    expect(refusalOf(() => sendsBeforeNext(latest('pending', 1, 29_500), undefined, now))).toEqual({ code: 'resend_cooldown', retryAfter: 30 });
  });

  it('with a record: the verification’s earlier codes count, and its cooldown doubles from the last send', () => {
    const record: VerificationSends = { challengeId, sentBefore: 2, lastSentAt: now - 100_000, baseMs: 30_000 };
    // Third code 100 s ago: 120 s of cooldown though otp's own (its challenge sent once) is over.
    expect(refusalOf(() => sendsBeforeNext(latest('pending', 1, -70_000), record, now))).toEqual({ code: 'resend_cooldown', retryAfter: 20 });
    expect(sendsBeforeNext(latest('pending', 1, -70_000), { ...record, lastSentAt: now - 120_000 }, now)).toBe(3);
    expect(sendsBeforeNext(latest('pending', 1, -70_000), { ...record, lastSentAt: now - 100_000, capMs: 60_000 }, now)).toBe(3);
  });

  it('refuses a sixth code until the latest challenge ends (rate_limited), even after the cooldown', () => {
    const record: VerificationSends = { challengeId, sentBefore: 4, lastSentAt: now - 3_600_000, baseMs: 30_000 };
    expect(refusalOf(() => sendsBeforeNext(latest('pending', 1, -1), record, now))).toEqual({ code: 'rate_limited', retryAfter: 600 });
    expect(refusalOf(() => sendsBeforeNext(latest('pending', 5, -1), undefined, now))).toEqual({ code: 'rate_limited', retryAfter: 600 });
  });

  it('keeps a challenge locked by wrong codes locked until it ends', () => {
    expect(refusalOf(() => sendsBeforeNext(latest('locked', 1, -1), undefined, now))).toEqual({ code: 'too_many_attempts', retryAfter: 600 });
  });

  it('starts afresh once the latest challenge ended: approved, expired, gone, or locked past its end', () => {
    const record: VerificationSends = { challengeId, sentBefore: 4, lastSentAt: now - 1_000, baseMs: 30_000 };
    expect(sendsBeforeNext(latest('expired', 1, 10_000), record, now)).toBe(0);
    expect(sendsBeforeNext(latest('approved', 1, 10_000), record, now)).toBe(0);
    expect(sendsBeforeNext(undefined, record, now)).toBe(0);
    expect(sendsBeforeNext({ ...latest('locked', 1, -1), expiresAt: iso(now - 1) }, record, now)).toBe(0);
  });
});

describe('afterStart and afterResend', () => {
  it('a start learns otp’s first cooldown and carries the codes so far', () => {
    const started = { id: otherId, resendAvailableAt: iso(now + 30_004) };
    expect(afterStart(undefined, 2, now, started)).toEqual({ challengeId: otherId, sentBefore: 2, lastSentAt: now, baseMs: 30_004 });
    expect(afterStart({ challengeId, sentBefore: 0, lastSentAt: 0, baseMs: 1, capMs: 60_000 }, 3, now, started).capMs).toBe(60_000);
  });

  it('a resend of the record’s challenge keeps its earlier codes; of another counts that one’s too', () => {
    const record: VerificationSends = { challengeId, sentBefore: 2, lastSentAt: now - 200_000, baseMs: 30_000 };
    const resent = { id: challengeId, sends: 2, resendAvailableAt: iso(now + 60_000) };
    expect(afterResend(record, 1, now, resent)).toEqual({ challengeId, sentBefore: 2, lastSentAt: now, baseMs: 30_000 });
    expect(afterResend({ ...record, challengeId: otherId }, 1, now, resent).sentBefore).toBe(3);
  });

  it('learns otp’s longest cooldown when a resend’s stopped doubling', () => {
    const record: VerificationSends = { challengeId, sentBefore: 1, lastSentAt: now - 200_000, baseMs: 1_000 };
    const capped = afterResend(record, 1, now, { id: challengeId, sends: 3, resendAvailableAt: iso(now + 1_000) });
    expect(capped.capMs).toBe(1_000);
    expect(withVerificationCooldown({ resendAvailableAt: iso(now + 1_000), sends: 3 }, capped).resendAvailableAt).toBe(iso(now + 1_000));
  });

  it('answers the verification’s cooldown when it is later than otp’s', () => {
    const record: VerificationSends = { challengeId, sentBefore: 3, lastSentAt: now, baseMs: 30_000 };
    expect(withVerificationCooldown({ resendAvailableAt: iso(now + 30_000), sends: 1 }, record).resendAvailableAt).toBe(iso(now + 240_000));
    expect(withVerificationCooldown({ resendAvailableAt: iso(now + 300_000), sends: 1 }, record).resendAvailableAt).toBe(iso(now + 300_000));
  });
});

describe('withRowChallenge', () => {
  const record: VerificationSends = { challengeId, sentBefore: 1, lastSentAt: now - 2_000, baseMs: 400 };

  it('a row holding another live challenge (a send whose record was not kept): its codes count after the record’s, its send as otp’s cooldown shows', () => {
    // The record's challenge sent once 2 s ago; the row's sent once since, otp's cooldown of it ends in 300 ms (sent 100 ms ago).
    const stricter = withRowChallenge(record, latest('pending', 1, -1_600), latest('pending', 1, 300, otherId), now);
    expect(stricter?.record).toEqual({ challengeId: otherId, sentBefore: 2, lastSentAt: now - 100, baseMs: 400 });
    // Third code of the verification 100 ms ago: 1.6 s of cooldown, though the record's own is over.
    expect(refusalOf(() => sendsBeforeNext(stricter!.latest, stricter!.record, now))).toEqual({ code: 'resend_cooldown', retryAfter: 2 });
    expect(sendsBeforeNext(latest('pending', 1, -1_600), record, now)).toBe(2);
  });

  it('nothing to add when the row holds the record’s challenge or one that ended', () => {
    expect(withRowChallenge(record, latest('pending', 1, -1), latest('pending', 1, -1), now)).toBeUndefined();
    expect(withRowChallenge(record, latest('pending', 1, -1), latest('expired', 1, -1, otherId), now)).toBeUndefined();
    expect(withRowChallenge(record, latest('pending', 1, -1), undefined, now)).toBeUndefined();
  });
});

describe('unansweredSend', () => {
  const unavailable = { code: 'service_unavailable' };
  it('only a 503 that came when the deadline passed', () => {
    const e = new DomainError('service_unavailable', 'x', {}, true);
    expect(unansweredSend(e, 3_000, 3_000)).toBe(true);
    expect(unansweredSend(e, 20, 3_000)).toBe(false);
    expect(unansweredSend(new DomainError('resend_cooldown', 'x'), 3_000, 3_000)).toBe(false);
    expect(unansweredSend(unavailable, 3_000, 3_000)).toBe(false);
  });
});

describe('longerRefusal', () => {
  const cooldown = (retryAfter: number) => new DomainError('resend_cooldown', 'later', { retryAfter });
  it('answers the refusal with the longer wait, and a failure that is no refusal before any', () => {
    const [short, long] = [cooldown(2), new DomainError('rate_limited', 'five', { retryAfter: 600 })];
    expect(longerRefusal(short, long)).toBe(long);
    expect(longerRefusal(long, short)).toBe(long);
    const down = new DomainError('service_unavailable', 'down', { retryAfter: 1 }, true);
    expect(longerRefusal(long, down)).toBe(down);
    expect(longerRefusal(down, short)).toBe(down);
  });
});
