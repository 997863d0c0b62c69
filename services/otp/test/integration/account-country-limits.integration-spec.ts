import { randomInt, randomUUID } from 'node:crypto';
import { notificationRequestedV1, startChallengeV1 } from '@phonegate/contracts';
import { DomainError } from '@phonegate/platform';
import { parsePhoneNumberWithError } from 'libphonenumber-js/max';
import { type OtpHarness, startedOtp, usNumber } from '../support/otp-harness';

/**
 * SECURITY S2: the per-account and per-country sliding windows, each on its own (per-IP and
 * per-destination have theirs in concurrency.integration-spec). Pumping signals are out of the
 * way (they would quarantine a burst of sends to one range first).
 */
const QUIET_PUMPING = {
  OTP_LIMIT_IP: '1000/15m',
  OTP_PUMP_ADJACENT_THRESHOLD: '1000',
  OTP_PUMP_RATIO_MIN_SENDS: '1000000',
};

/** A random valid mobile number of a country (`+49 15…`), a new one each call. */
function mobile(prefix: string, digits: number): string {
  for (;;) {
    const text = `${prefix}${Array.from({ length: digits }, () => randomInt(10)).join('')}`;
    try {
      const n = parsePhoneNumberWithError(text);
      if (n.isValid() && n.getType() === 'MOBILE') return text;
    } catch {
      /* another draw */
    }
  }
}
const german = () => mobile('+4915', 9);
const british = () => mobile('+447', 9);
const french = () => mobile('+336', 8);

/** The code messages published to a destination. */
function sentTo(h: OtpHarness, to: string) {
  return h.caught.filter((c) => c.type === notificationRequestedV1.type && c.data['to'] === to);
}

/**
 * Waits until the tap has every message published so far: it sends one more code (by e-mail, out
 * of the phone windows) and waits for it, as the queue keeps the order of the publishes.
 */
async function drained(h: OtpHarness): Promise<void> {
  const to = `drain-${randomUUID()}@example.com`;
  await h.startVerification({ to, channel: 'email', purpose: 'custom' });
}

type Answer = { statusCode: number; headers: Record<string, unknown>; json: () => unknown };

/** A start refused by a window's limit, with the wait in seconds in the body and the header. */
function expectRefused(answer: Answer, limit: string, retryAfter: number): void {
  expect(answer.statusCode).toBe(429);
  expect(answer.json()).toMatchObject({ code: 'rate_limited', limit, retryAfter });
  expect(answer.headers['retry-after']).toBe(String(retryAfter));
}

/**
 * A burst of starts to `numbers` (answers in the same order): exactly `passes` got through, every
 * other one was refused by `limit` with `retryAfter`, and only the ones that passed were sent.
 */
async function expectBurst(
  h: OtpHarness,
  numbers: string[],
  answers: Answer[],
  expected: { passes: number; limit: string; retryAfter: number },
): Promise<void> {
  const passed = numbers.filter((_, i) => answers[i]!.statusCode === 201);
  expect(passed).toHaveLength(expected.passes);
  const refused = answers.filter((a) => a.statusCode !== 201);
  expect(refused).toHaveLength(numbers.length - expected.passes);
  for (const a of refused) expectRefused(a, expected.limit, expected.retryAfter);
  await drained(h);
  expect(numbers.filter((to) => sentTo(h, to).length > 0).sort()).toEqual([...passed].sort());
}

describe('otp per-account send window (S2)', () => {
  const h = startedOtp({ ...QUIET_PUMPING, OTP_LIMIT_ACCOUNT: '3/10m' });

  const start = (to: string, accountId: string) =>
    h.inject('POST', '/v1/verifications', { to, channel: 'sms', purpose: 'custom', accountId });

  it('refuses the fourth start for one account across different numbers, with the wait until its oldest send leaves the window, and sends nothing for it', async () => {
    const accountId = randomUUID();
    for (let i = 0; i < 3; i++) {
      expect((await start(usNumber(), accountId)).statusCode).toBe(201);
      h.clock.advance(60_000);
    }
    // Three minutes after the first send: it leaves the 10-minute window in seven.
    const to = usNumber();
    expectRefused(await start(to, accountId), 'account', 420);

    // Not the number's limit: another account reaches it at once.
    const other = await start(to, randomUUID());
    expect(other.statusCode).toBe(201);
    await h.code(other.json<{ id: string }>().id);
    expect(sentTo(h, to)).toHaveLength(1);

    // The Retry-After is honest: a second early is still too early, on time passes.
    h.clock.advance(419_000);
    expectRefused(await start(usNumber(), accountId), 'account', 1);
    h.clock.advance(1_000);
    expect((await start(usNumber(), accountId)).statusCode).toBe(201);
    // ... and only one slot freed: the second send of the first minute is still in the window.
    expectRefused(await start(usNumber(), accountId), 'account', 60);
  });

  it("counts identity's starts over the bus and the storefront's over HTTP in one window", async () => {
    const accountId = randomUUID();
    expect((await start(usNumber(), accountId)).statusCode).toBe(201);
    await h.identity.events.request(startChallengeV1, {
      purpose: 'sign_in',
      channel: 'sms',
      to: usNumber(),
      accountId,
      ref: randomUUID(),
    });
    expect((await start(usNumber(), accountId)).statusCode).toBe(201);
    const to = usNumber();
    const refused = await h.identity.events
      .request(startChallengeV1, {
        purpose: 'sign_in',
        channel: 'sms',
        to,
        accountId,
        ref: randomUUID(),
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(refused).toBeInstanceOf(DomainError);
    expect(refused).toMatchObject({
      code: 'rate_limited',
      extra: { limit: 'account', retryAfter: 600 },
    });
    await drained(h);
    expect(sentTo(h, to)).toHaveLength(0);
  });

  it('40 parallel starts for one account to 40 numbers: exactly 3 get through and only their codes are sent', async () => {
    const accountId = randomUUID();
    const numbers = Array.from({ length: 40 }, () => usNumber());
    const answers = await Promise.all(numbers.map((to) => start(to, accountId)));
    await expectBurst(h, numbers, answers, { passes: 3, limit: 'account', retryAfter: 600 });
  });
});

describe('otp per-country send window (S2)', () => {
  const h = startedOtp({ ...QUIET_PUMPING, OTP_LIMIT_COUNTRY: '4/1m' });

  const start = (to: string, accountId?: string) =>
    h.inject('POST', '/v1/verifications', {
      to,
      channel: 'sms',
      purpose: 'phone_verification',
      ...(accountId ? { accountId } : {}),
    });

  it('refuses the fifth start to a country across numbers and accounts while another country passes, and sends nothing for it', async () => {
    for (let i = 0; i < 4; i++) {
      // Two with an account, two without: the window is the country's.
      expect((await start(german(), i % 2 ? randomUUID() : undefined)).statusCode).toBe(201);
      h.clock.advance(10_000);
    }
    const to = german();
    expectRefused(await start(to, randomUUID()), 'country', 20);

    // Other countries have their own windows.
    const elsewhere = await Promise.all([start(french(), randomUUID()), start(usNumber())]);
    expect(elsewhere.map((a) => a.statusCode)).toEqual([201, 201]);
    await drained(h);
    expect(sentTo(h, to)).toHaveLength(0);

    h.clock.advance(19_000);
    expectRefused(await start(german()), 'country', 1);
    h.clock.advance(1_000);
    const again = await start(to, randomUUID());
    expect(again.statusCode).toBe(201);
    await h.code(again.json<{ id: string }>().id);
    expect(sentTo(h, to)).toHaveLength(1);
  });

  it('under 40 parallel starts to one country (other numbers, other accounts) exactly 4 pass, while another country’s starts in the same burst pass', async () => {
    h.clock.advance(60_000);
    const uk = Array.from({ length: 40 }, () => british());
    const fr = Array.from({ length: 3 }, () => french());
    const [ukAnswers, frAnswers] = await Promise.all([
      Promise.all(uk.map((to) => start(to, randomUUID()))),
      Promise.all(fr.map((to) => start(to, randomUUID()))),
    ]);
    expect(frAnswers.map((a) => a.statusCode)).toEqual([201, 201, 201]);
    await expectBurst(h, uk, ukAnswers, { passes: 4, limit: 'country', retryAfter: 60 });
  });
});
