import {
  checkChallengeV1,
  getChallengeV1,
  getCodePolicyV1,
  getFactorsV1,
  giveBackStepUpV1,
  resendChallengeV1,
  startChallengeV1,
  takeStepUpV1,
  verifyFactorV1,
} from '@phonegate/contracts';
import type { EventBus } from '@phonegate/messaging';
import type {
  CheckChallenge,
  GetCodePolicy,
  GiveBackStepUp,
  OtpGateway,
  ResendChallenge,
  StartChallenge,
  TakeStepUp,
  VerifyFactor,
} from './otp.gateway';

/**
 * The otp service over request-reply on the bus, each call with a deadline
 * (IDENTITY_OTP_TIMEOUT, default 3 s): a dead otp is a fast 503, never a hang.
 */
export class BusOtpGateway implements OtpGateway {
  constructor(
    private readonly bus: Pick<EventBus, 'request'>,
    private readonly timeoutMs: number,
  ) {}

  start(request: StartChallenge) {
    return this.bus.request(startChallengeV1, request, { timeoutMs: this.timeoutMs });
  }

  check(request: CheckChallenge) {
    return this.bus.request(checkChallengeV1, request, { timeoutMs: this.timeoutMs });
  }

  resend(request: ResendChallenge) {
    return this.bus.request(resendChallengeV1, request, { timeoutMs: this.timeoutMs });
  }

  get(challengeId: string) {
    return this.bus.request(getChallengeV1, { challengeId }, { timeoutMs: this.timeoutMs });
  }

  verifyFactor(request: VerifyFactor) {
    return this.bus.request(verifyFactorV1, request, { timeoutMs: this.timeoutMs });
  }

  factors(accountId: string) {
    return this.bus.request(getFactorsV1, { accountId }, { timeoutMs: this.timeoutMs });
  }

  takeStepUp(request: TakeStepUp) {
    return this.bus.request(takeStepUpV1, request, { timeoutMs: this.timeoutMs });
  }

  giveBackStepUp(request: GiveBackStepUp) {
    return this.bus.request(giveBackStepUpV1, request, { timeoutMs: this.timeoutMs });
  }

  codePolicy(request: GetCodePolicy) {
    return this.bus.request(getCodePolicyV1, request, { timeoutMs: this.timeoutMs });
  }
}
