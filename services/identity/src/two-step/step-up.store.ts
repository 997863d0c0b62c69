import type { SigninFactor } from './two-step.policy';

/** A step-up in Redis (IDENTITY_STEP_UP_TTL): a fresh code at the account's level (S8). */
export interface StepUpRecord {
  accountId: string;
  factor: SigninFactor;
  challengeId: string | null;
  /** Epoch ms when the code was approved. */
  approvedAt: number | null;
}
