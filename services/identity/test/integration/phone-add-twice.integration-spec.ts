import { Harness, type HttpAnswer, sleep, type Tapped } from './support/harness';

jest.setTimeout(180_000);

/** Rounds of the race: enough that an unguarded window shows in nearly every run. */
const ROUNDS = 12;

/**
 * The same number added several times at once to an account (its first add there), run for
 * many rounds: the add that records the number holds its send's claim from before the row
 * exists, so the others, finding the row, wait for its code and answer as a resend of it. One
 * code goes out, every 202 names the challenge it went out on, the others are told to wait
 * (429 resend_cooldown), and the code verifies.
 * Over HTTP against identity, with real PostgreSQL, Redis, RabbitMQ and the otp service as a process.
 */
describe('identity: the same number added twice at once', () => {
  const h = new Harness();

  // otp's resend cooldown long enough that a second code for one number within a round can only be
  // a race's; one code a number, so that a number added again elsewhere is refused by otp.
  beforeAll(() => h.start({ otpEnv: { OTP_RESEND_COOLDOWN: '30s', OTP_LIMIT_DESTINATION: '1/15m' } }), 120_000);
  afterAll(() => h.close(), 60_000);

  const summary = (r: HttpAnswer) => `${r.status}${r.body?.code ? ` ${String(r.body.code)}` : ''}`;

  /** Codes sent to `to` since `since`: one per message that carries a code. */
  const codesTo = (to: string, since: number): Tapped[] =>
    h.tap
      .of('notification.requested.v1')
      .filter((t) => t.at >= since && t.data['to'] === to && typeof (t.data['variables'] as { code?: unknown } | undefined)?.code === 'string');

  it(`the same number added three times at once (${ROUNDS} rounds): one code goes out, every 202 names its challenge, the others are told to wait, and the code verifies`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const a = await h.account();
      const x = h.phone();
      const since = Date.now();
      const answers = await Promise.all([0, 1, 2].map(() => h.call('POST', `/v1/accounts/${a.id}/phones`, { number: x })));

      // One row for the number.
      const phones = (await h.call('GET', `/v1/accounts/${a.id}`)).body.phones as { phoneId: string; status: string }[];
      expect(phones).toEqual([expect.objectContaining({ status: 'pending' })]);
      const phoneId = phones[0]!.phoneId;

      // One code goes out (waited for, then a little longer for a late second one).
      await h.tap.waitFor((t) => t.at >= since && t.data['to'] === x && typeof (t.data['variables'] as { code?: unknown } | undefined)?.code === 'string', since);
      await sleep(600);
      const sent = codesTo(x, since);
      const accepted = answers.filter((r) => r.status === 202);
      expect({ round, answers: answers.map(summary).sort(), codes: sent.length }).toEqual({
        round,
        answers: expect.arrayContaining(['202']) as unknown,
        codes: 1,
      });
      // The others answer as a resend of that one code: inside its cooldown, told to wait.
      for (const r of answers.filter((other) => other.status !== 202)) {
        expect(summary(r)).toBe('429 resend_cooldown');
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      // Every 202 names the number's row and the challenge the code went out on.
      const challengeId = (sent[0]!.data['origin'] as { ref?: string }).ref;
      for (const r of accepted) {
        expect(r.body.phoneId).toBe(phoneId);
        expect(r.body.verification.challengeId).toBe(challengeId);
      }
      const code = h.keep(String((sent[0]!.data['variables'] as { code: unknown }).code));
      const verified = await h.call('POST', `/v1/accounts/${a.id}/phones/${phoneId}/verify`, { code });
      expect({ round, verified: summary(verified) }).toEqual({ round, verified: '200' });
    }
  });

  it(`the same number added twice at once when otp refuses its code (${ROUNDS} rounds): both are refused alike, none is a 404, no row is left`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const x = h.phone();
      // Its one code (OTP_LIMIT_DESTINATION) goes to another account that adds it first.
      const first = await h.account();
      expect(summary(await h.call('POST', `/v1/accounts/${first.id}/phones`, { number: x }))).toBe('202');
      const a = await h.account();
      const answers = await Promise.all([0, 1].map(() => h.call('POST', `/v1/accounts/${a.id}/phones`, { number: x })));
      // The add that recorded the number takes its row away when otp refuses; one that waited for it adds anew and is refused too.
      expect({ round, answers: answers.map(summary) }).toEqual({ round, answers: ['429 rate_limited', '429 rate_limited'] });
      expect((await h.call('GET', `/v1/accounts/${a.id}`)).body.phones).toEqual([]);
    }
  });

  it('no number, code or password in any log line', () => {
    expect(h.leaks()).toEqual([]);
  });
});
