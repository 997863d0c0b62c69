import { Controller, Inject } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import {
  checkChallengeV1,
  type CommandRequest,
  type EventData,
  getChallengeV1,
  getCodePolicyV1,
  getFactorsV1,
  giveBackStepUpV1,
  notificationDroppedV1,
  notificationFailedV1,
  resendChallengeV1,
  startChallengeV1,
  takeStepUpV1,
  verifyFactorV1,
} from '@phonegate/contracts';
import { type Caller, codeTtlMs } from '../challenges/challenge.model';
import { ChallengeService } from '../challenges/challenge.service';
import type { OtpConfig } from '../config/otp.config';
import { FactorService } from '../factors/factor.service';
import { OTP_CONFIG } from '../ports/event-publisher';

type Outcome = EventData<typeof notificationFailedV1>;

/** Commands reach only the challenges started over the bus (identity's), never a storefront's. */
const BUS: Caller = { via: 'bus' };

/**
 * The commands identity sends over the bus, and the notifier's delivery
 * outcomes. Thin: each calls one use case; errors are DomainErrors that the
 * transport answers (commands) or retries/parks (events).
 */
@Controller()
export class OtpBusHandlers {
  constructor(
    @Inject(ChallengeService) private readonly challenges: ChallengeService,
    @Inject(FactorService) private readonly factors: FactorService,
    @Inject(OTP_CONFIG) private readonly config: OtpConfig,
  ) {}

  /** What a code of this purpose and channel is here: its life and its wrong codes (S6). */
  @MessagePattern(getCodePolicyV1.pattern)
  codePolicy(@Payload() req: CommandRequest<typeof getCodePolicyV1>) {
    return {
      ttlMs: codeTtlMs(this.config.codes.ttlMs, req.purpose, req.channel),
      maxAttempts: this.config.codes.maxAttempts,
    };
  }

  @MessagePattern(startChallengeV1.pattern)
  start(@Payload() req: CommandRequest<typeof startChallengeV1>) {
    return this.challenges.start(req, BUS);
  }

  @MessagePattern(checkChallengeV1.pattern)
  check(@Payload() req: CommandRequest<typeof checkChallengeV1>) {
    // Over the bus the purpose is required and the reference must match the challenge's (C6).
    return this.challenges.check(
      { id: req.challengeId, code: req.code, purpose: req.purpose, ref: { value: req.ref } },
      BUS,
    );
  }

  @MessagePattern(resendChallengeV1.pattern)
  resend(@Payload() req: CommandRequest<typeof resendChallengeV1>) {
    return this.challenges.resend(
      {
        id: req.challengeId,
        ...(req.channel ? { channel: req.channel } : {}),
        ...(req.to ? { to: req.to } : {}),
        ...(req.clientIp ? { clientIp: req.clientIp } : {}),
      },
      BUS,
    );
  }

  @MessagePattern(getChallengeV1.pattern)
  get(@Payload() req: CommandRequest<typeof getChallengeV1>) {
    return this.challenges.get(req.challengeId, BUS);
  }

  @MessagePattern(verifyFactorV1.pattern)
  verifyFactor(@Payload() req: CommandRequest<typeof verifyFactorV1>) {
    return this.factors.verify(req.accountId, req.kind, req.code, req.purpose);
  }

  @MessagePattern(getFactorsV1.pattern)
  getFactors(@Payload() req: CommandRequest<typeof getFactorsV1>) {
    return this.factors.factors(req.accountId);
  }

  @MessagePattern(takeStepUpV1.pattern)
  takeStepUp(@Payload() req: CommandRequest<typeof takeStepUpV1>) {
    return this.factors.takeStepUpFor(req.accountId, req.challengeId, req.token);
  }

  @MessagePattern(giveBackStepUpV1.pattern)
  giveBackStepUp(@Payload() req: CommandRequest<typeof giveBackStepUpV1>) {
    return this.factors.giveBackStepUp(req.challengeId, req.token);
  }

  @EventPattern<Record<string, Outcome>>(notificationFailedV1.type)
  async onFailed(@Payload() data: Outcome) {
    await this.challenges.onDeliveryOutcome('failed', data);
  }

  @EventPattern<Record<string, Outcome>>(notificationDroppedV1.type)
  async onDropped(@Payload() data: Outcome) {
    await this.challenges.onDeliveryOutcome('dropped', data);
  }
}
