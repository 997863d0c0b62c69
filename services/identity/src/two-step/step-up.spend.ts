import { randomUUID } from 'node:crypto';
import { DomainError } from '@phonegate/platform';
import type { OtpGateway } from '../otp/otp.gateway';

/** What spending a step-up needs of otp. */
export type OtpStepUps = Pick<OtpGateway, 'takeStepUp' | 'giveBackStepUp'>;

/** A step-up's challenge taken at otp: give it back if the change it was taken for fails. */
export interface OtpSpend {
  giveBack(): Promise<void>;
}

/**
 * Spends a step-up's otp challenge at otp (S8). otp's Redis owns the challenge and marks it used
 * in one step, the same mark its own factor changes take (the challenge id is a stepUpId there),
 * so one approved code allows one change, at identity or at otp, never one at each.
 *
 * - taken: the spend, whose give-back undoes it (same token) if the change then fails;
 * - 'refused': otp has it spent already, or it is not usable there any more (past its window);
 * - otp did not answer (down, deadline passed, its Redis down): the take may or may not have
 *   happened, so it is given back with the same token (a no-op if it did not happen) and the
 *   error thrown: the change is refused rather than allowed twice. A give-back that fails too
 *   leaves the step-up spent at otp: lost, never usable twice.
 */
export async function spendAtOtp(otp: OtpStepUps, accountId: string, challengeId: string): Promise<OtpSpend | 'refused'> {
  const token = randomUUID();
  const giveBack = async () => {
    await otp.giveBackStepUp({ challengeId, token });
  };
  try {
    await otp.takeStepUp({ accountId, challengeId, token });
  } catch (error) {
    if (error instanceof DomainError && error.code === 'step_up_required') return 'refused';
    await giveBack().catch(() => undefined);
    throw error;
  }
  return { giveBack };
}
