import { Body, Controller, Get, HttpCode, Param, Post, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { twoStepMethod, uuid } from '@phonegate/contracts';
import { Scopes, zodBody } from '@phonegate/platform';
import { z } from 'zod';
import { ApiProblems, ApiZodBody } from '../shared/openapi';
import { TwoStepService } from './two-step.service';

const nonPhoneFactor = z.enum(['totp', 'backup_code']);
/** A step-up given with a change that needs one (turning two-step off, also by removing the last number). */
export const stepUpProof = z.object({
  /** A step-up (POST .../two-step/step-up) approved in the last 5 minutes, or with its code here. */
  stepUpId: uuid.optional(),
  code: z.string().trim().min(1).max(64).optional(),
  /** When the step-up code is from an authenticator app or a backup code. */
  factor: nonPhoneFactor.optional(),
});
export const twoStepBody = z.object({
  enabled: z.boolean(),
  method: twoStepMethod.nullable().optional(),
  backupMethod: twoStepMethod.nullable().optional(),
  ...stepUpProof.shape,
});
export const stepUpBody = z.object({ channel: z.enum(['sms', 'voice', 'email', 'totp', 'backup_code']).optional() });
export const stepUpVerifyBody = z.object({ code: z.string().trim().min(1).max(64), factor: nonPhoneFactor.optional() });

@ApiTags('two-step')
@ApiBearerAuth()
@Scopes('storefront')
@Controller('v1/accounts/:accountId/two-step')
export class TwoStepController {
  constructor(private readonly twoStep: TwoStepService) {}

  @Get()
  @ApiOperation({ summary: 'Two-step settings' })
  @ApiResponse({ status: 200, description: '{enabled, method, backupMethod}' })
  @ApiProblems('not_found')
  get(@Param('accountId') accountId: string) {
    return this.twoStep.get(accountId);
  }

  @Put()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Change two-step',
    description: [
      'Turning it on by sms or voice needs a verified primary number; by totp a confirmed authenticator (else 409 factor_not_ready).',
      'Turning it off, or changing the method or backup while it is on, needs a step-up approved in the last 5 minutes (IDENTITY_STEP_UP_WINDOW):',
      'start one with POST /v1/accounts/{accountId}/two-step/step-up, then either confirm it with POST .../step-up/{stepUpId}/verify and send `stepUpId` here,',
      'or send `stepUpId` and `code` here together. Without it: 403 step_up_required. A step-up is used once: of two changes given the same one, one is made.',
      "Turning it off, or another method or backup while on, tells the account's e-mail.",
      'E-mail is never the method, only a backup, and only where IDENTITY_EMAIL_BACKUP_FACTOR is on: it is a weaker factor',
      '(NIST SP 800-63B-4 does not accept e-mail for out-of-band authentication; SECURITY S7).',
    ].join(' '),
  })
  @ApiZodBody(twoStepBody)
  @ApiResponse({ status: 200, description: '{enabled, method, backupMethod}' })
  @ApiProblems('factor_not_ready', 'step_up_required', 'validation_failed', 'code_mismatch', 'code_expired', 'not_found', 'service_unavailable')
  update(@Param('accountId') accountId: string, @Body(zodBody(twoStepBody)) body: z.infer<typeof twoStepBody>) {
    return this.twoStep.update(accountId, body);
  }

  @Post('step-up')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Start a step-up (a fresh code at the account level)',
    description:
      "Sends a code through the account's two-step factor (the primary number by SMS or voice, or e-mail where it is the configured backup), or, for totp and backup_code, expects one to be typed. With two-step off, the primary number or authenticator is used.",
  })
  @ApiZodBody(stepUpBody)
  @ApiResponse({ status: 201, description: '{stepUpId, factor, alternatives, expiresAt, challenge: {id, channel, to (masked), expiresAt, resendAvailableAt} | null}' })
  @ApiProblems('factor_not_ready', 'rate_limited', 'not_found', 'service_unavailable')
  startStepUp(@Param('accountId') accountId: string, @Body(zodBody(stepUpBody)) body: z.infer<typeof stepUpBody>) {
    return this.twoStep.startStepUp(accountId, body.channel);
  }

  @Post('step-up/:stepUpId/verify')
  @HttpCode(200)
  @ApiOperation({ summary: "Confirm a step-up with its code; it is then good for 5 minutes" })
  @ApiZodBody(stepUpVerifyBody)
  @ApiResponse({ status: 200, description: '{stepUpId, status: "approved", validUntil}' })
  @ApiProblems('code_mismatch', 'code_expired', 'too_many_attempts', 'account_locked', 'not_found')
  verifyStepUp(
    @Param('accountId') accountId: string,
    @Param('stepUpId') stepUpId: string,
    @Body(zodBody(stepUpVerifyBody)) body: z.infer<typeof stepUpVerifyBody>,
  ) {
    return this.twoStep.verifyStepUp(accountId, stepUpId, body.code, body.factor);
  }
}
