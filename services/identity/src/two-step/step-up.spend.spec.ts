import { DomainError } from '@phonegate/platform';
import type { GiveBackStepUp, TakeStepUp } from '../otp/otp.gateway';
import { type OtpStepUps, spendAtOtp } from './step-up.spend';

const accountId = '0b6f1c1e-8f8a-4a57-9a52-1d1c0f6a3b10';
const challengeId = '3c2d1e0f-2222-4a57-9a52-1d1c0f6a3b10';

/** otp's step-up marks as a map challengeId → token, with a take that can fail after (or instead of) taking. */
class FakeOtp implements OtpStepUps {
  readonly marks = new Map<string, string>();
  takes: TakeStepUp[] = [];
  giveBacks: GiveBackStepUp[] = [];
  /** 'ok', 'refused', or an error thrown after the take happened ('lost answer') or before it ('down'). */
  mode: 'ok' | 'refused' | 'lost answer' | 'down' = 'ok';
  giveBackFails = false;

  takeStepUp(r: TakeStepUp) {
    this.takes.push(r);
    if (this.mode === 'down') return Promise.reject(unavailable());
    const held = this.marks.get(r.challengeId);
    if (this.mode === 'refused' || (held && held !== r.token)) return Promise.reject(new DomainError('step_up_required', 'spent'));
    this.marks.set(r.challengeId, r.token);
    if (this.mode === 'lost answer') return Promise.reject(unavailable());
    return Promise.resolve({ challengeId: r.challengeId, taken: true as const });
  }

  giveBackStepUp(r: GiveBackStepUp) {
    this.giveBacks.push(r);
    if (this.giveBackFails) return Promise.reject(unavailable());
    const held = this.marks.get(r.challengeId) === r.token;
    if (held) this.marks.delete(r.challengeId);
    return Promise.resolve({ givenBack: held });
  }
}

const unavailable = () => new DomainError('service_unavailable', 'otp did not answer', { retryAfter: 1 }, true);

describe('spendAtOtp: a step-up spent at identity is spent at otp too (S8)', () => {
  it('takes the challenge at otp for the account, with a fresh token each time', async () => {
    const otp = new FakeOtp();
    const spend = await spendAtOtp(otp, accountId, challengeId);
    expect(spend).not.toBe('refused');
    expect(otp.takes).toEqual([{ accountId, challengeId, token: expect.stringMatching(/^[0-9a-f-]{36}$/) }]);
    expect(otp.marks.get(challengeId)).toBe(otp.takes[0]?.token);
    expect(otp.giveBacks).toEqual([]);
    // The same step-up again: otp has it spent.
    expect(await spendAtOtp(otp, accountId, challengeId)).toBe('refused');
    expect(otp.takes[1]?.token).not.toBe(otp.takes[0]?.token);
  });

  it('a refusal by otp (spent there, or past its window) is "refused", and nothing is given back', async () => {
    const otp = new FakeOtp();
    otp.mode = 'refused';
    expect(await spendAtOtp(otp, accountId, challengeId)).toBe('refused');
    expect(otp.giveBacks).toEqual([]);
  });

  it('the give-back of a spend undoes it with its own token: otp can use the step-up again', async () => {
    const otp = new FakeOtp();
    const spend = await spendAtOtp(otp, accountId, challengeId);
    if (spend === 'refused') throw new Error('refused');
    await spend.giveBack();
    expect(otp.giveBacks).toEqual([{ challengeId, token: otp.takes[0]?.token }]);
    expect(otp.marks.size).toBe(0);
  });

  it("otp took it but its answer was lost: the take is undone with the same token and the error thrown (refuse, don't allow twice)", async () => {
    const otp = new FakeOtp();
    otp.mode = 'lost answer';
    await expect(spendAtOtp(otp, accountId, challengeId)).rejects.toMatchObject({ code: 'service_unavailable' });
    expect(otp.giveBacks).toEqual([{ challengeId, token: otp.takes[0]?.token }]);
    expect(otp.marks.size).toBe(0);
  });

  it('otp down: the error is thrown; the give-back tried is a no-op, and its failure is not what is thrown', async () => {
    const otp = new FakeOtp();
    otp.mode = 'down';
    otp.giveBackFails = true;
    await expect(spendAtOtp(otp, accountId, challengeId)).rejects.toMatchObject({ code: 'service_unavailable', detail: 'otp did not answer' });
    expect(otp.giveBacks).toHaveLength(1);
    expect(otp.marks.size).toBe(0);
  });

  it('a give-back that fails after a lost answer leaves the step-up spent at otp: lost, never usable twice', async () => {
    const otp = new FakeOtp();
    otp.mode = 'lost answer';
    otp.giveBackFails = true;
    await expect(spendAtOtp(otp, accountId, challengeId)).rejects.toMatchObject({ code: 'service_unavailable' });
    otp.mode = 'ok';
    expect(await spendAtOtp(otp, accountId, challengeId)).toBe('refused');
  });
});
