import type {
  ChallengeView,
  CommandRequest,
  checkChallengeV1,
  getCodePolicyV1,
  giveBackStepUpV1,
  resendChallengeV1,
  startChallengeV1,
  takeStepUpV1,
  verifyFactorV1,
} from '@phonegate/contracts';

export type StartChallenge = CommandRequest<typeof startChallengeV1>;
export type CheckChallenge = CommandRequest<typeof checkChallengeV1>;
export type ResendChallenge = CommandRequest<typeof resendChallengeV1>;
export type VerifyFactor = CommandRequest<typeof verifyFactorV1>;
export type TakeStepUp = CommandRequest<typeof takeStepUpV1>;
export type GiveBackStepUp = CommandRequest<typeof giveBackStepUpV1>;
export type GetCodePolicy = CommandRequest<typeof getCodePolicyV1>;

/**
 * What identity asks of the otp service. Identity never sees a code: it
 * forwards the person's input to `check`/`verifyFactor` and learns only
 * approved or a DomainError (code_mismatch with attemptsRemaining,
 * code_expired, too_many_attempts, not_found, rate_limited with retryAfter,
 * service_unavailable when otp does not answer in time).
 */
export interface OtpGateway {
  start(request: StartChallenge): Promise<ChallengeView>;
  check(request: CheckChallenge): Promise<ChallengeView>;
  resend(request: ResendChallenge): Promise<ChallengeView>;
  get(challengeId: string): Promise<ChallengeView>;
  verifyFactor(request: VerifyFactor): Promise<{ approved: true }>;
  factors(accountId: string): Promise<{ totp: boolean; backupCodes: number }>;
  /**
   * Spends a step-up's challenge at otp (S8: one approval, one change, here or at otp);
   * step_up_required when otp has it spent already, or it is not usable there.
   */
  takeStepUp(request: TakeStepUp): Promise<{ challengeId: string; taken: true }>;
  /** Gives a taken step-up back at otp (a no-op unless the token still holds it). */
  giveBackStepUp(request: GiveBackStepUp): Promise<{ givenBack: boolean }>;
  /** The otp service's code life and wrong-code limit for a purpose on a channel (S6: decoys). */
  codePolicy(request: GetCodePolicy): Promise<{ ttlMs: number; maxAttempts: number }>;
}
