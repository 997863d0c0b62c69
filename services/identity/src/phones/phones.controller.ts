import { Body, Controller, Delete, HttpCode, Param, Post, Put, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { Scopes, zodBody } from '@phonegate/platform';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { clientIp } from '../shared/client-ip';
import { ApiProblems, ApiZodBody } from '../shared/openapi';
import { stepUpProof } from '../two-step/two-step.controller';
import { PhonesService } from './phones.service';

const stepUpSchema = z.toJSONSchema(stepUpProof, { target: 'openapi-3.0', io: 'input' }) as SchemaObject;
const phoneChannel = z.enum(['sms', 'voice']);
export const numberBody = z.object({
  /** E.164 (+14155550123) or national form with `country`. */
  number: z.string().max(64),
  country: z.string().max(8).optional(),
  channel: phoneChannel.optional(),
});
/** A change of a number: the new number, and for a verified number the step-up that allows it (S8). */
export const changeBody = numberBody.extend(stepUpProof.shape);
export const codeBody = z.object({ code: z.string().trim().min(1).max(64) });
export const resendBody = z.object({ channel: phoneChannel.optional() });

const VERIFICATION = '{phoneId, status: "pending", verification: {challengeId, channel, to (masked), expiresAt, resendAvailableAt}}';
/** How a route that needs a step-up takes it (S8). */
const STEP_UP =
  'a step-up approved in the last 5 minutes (POST /v1/accounts/{accountId}/two-step/step-up, a code at the account\'s level), given as `stepUpId` (with `code` if not confirmed yet) in the body; without it, 403 step_up_required. A step-up is used once; a change refused after it was taken gives it back.';
const STEP_UP_PROBLEMS = ['step_up_required', 'code_mismatch', 'code_expired', 'too_many_attempts', 'service_unavailable'] as const;

@ApiTags('phones')
@ApiBearerAuth()
@ApiHeader({ name: 'x-client-ip', required: false, description: "The end user's IP, for the otp service's per-IP limits" })
@Scopes('storefront')
@Controller('v1/accounts/:accountId/phones')
export class PhonesController {
  constructor(private readonly phones: PhonesService) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({
    summary: 'Add a number and send its verification code',
    description:
      'At most two numbers an account. SMS needs a mobile (or fixed-or-mobile) number; with channel voice a fixed line is accepted. The first verified number becomes primary. A number removed (or corrected away) from a pending row of the account a little earlier is bounded like a resend of what was sent to it: 429 resend_cooldown inside its cooldown, rate_limited after 5 codes, too_many_attempts while locked.',
  })
  @ApiZodBody(numberBody)
  @ApiResponse({ status: 202, description: VERIFICATION })
  @ApiProblems('phone_limit_reached', 'phone_in_use', 'invalid_phone_number', 'resend_cooldown', 'rate_limited', 'too_many_attempts', 'not_found', 'service_unavailable')
  add(@Param('accountId') accountId: string, @Body(zodBody(numberBody)) body: z.infer<typeof numberBody>, @Req() req: FastifyRequest) {
    return this.phones.add(accountId, body, clientIp(req));
  }

  @Post(':phoneId/verify')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Confirm a number with its code',
    description:
      "A change replaces the old number only now. A code the number's owner reported (\"I didn't ask for this\") ends the verification: 410 code_expired and the pending number is removed.",
  })
  @ApiZodBody(codeBody)
  @ApiResponse({ status: 200, description: '{phoneId, status: "verified", primary}' })
  @ApiProblems('code_mismatch', 'code_expired', 'too_many_attempts', 'phone_in_use', 'not_found')
  verify(@Param('accountId') accountId: string, @Param('phoneId') phoneId: string, @Body(zodBody(codeBody)) body: z.infer<typeof codeBody>) {
    return this.phones.verify(accountId, phoneId, body.code);
  }

  @Post(':phoneId/resend')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Send a fresh code, optionally by voice instead of SMS (or back)',
    description:
      "After the number's owner reported its code (\"I didn't ask for this\"), nothing is sent: 410 code_expired and the pending number is removed (the same for a PUT or an add of the same number).",
  })
  @ApiZodBody(resendBody)
  @ApiResponse({ status: 202, description: VERIFICATION })
  @ApiProblems('resend_cooldown', 'rate_limited', 'invalid_phone_number', 'code_expired', 'conflict', 'not_found')
  resend(
    @Param('accountId') accountId: string,
    @Param('phoneId') phoneId: string,
    @Body(zodBody(resendBody)) body: z.infer<typeof resendBody>,
    @Req() req: FastifyRequest,
  ) {
    return this.phones.resend(accountId, phoneId, body.channel, clientIp(req));
  }

  @Put(':phoneId')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Change a number',
    description:
      'The new number is pending (a new phoneId with replacesPhoneId) until verified; the old one keeps working until then, and is then removed. The old number and the e-mail are told. ' +
      `Changing a verified number needs ${STEP_UP} So does pointing its pending replacement at another number (once verified, it replaces the verified number). Correcting an added number still pending, or a replacement to its own number again (a resend), needs none. ` +
      'A change sends a code, so it is bounded like a resend: inside the cooldown of the previous code 429 resend_cooldown; the same number again resends its code; a second change of a verified number goes on with its pending replacement. ' +
      'A change refused because the number was verified meanwhile (409 conflict) or verified on another account first (409 phone_in_use) sends nothing.',
  })
  @ApiZodBody(changeBody)
  @ApiResponse({ status: 202, description: `${VERIFICATION} plus replacesPhoneId` })
  @ApiProblems('phone_in_use', 'conflict', 'invalid_phone_number', 'resend_cooldown', 'rate_limited', ...STEP_UP_PROBLEMS, 'not_found')
  change(
    @Param('accountId') accountId: string,
    @Param('phoneId') phoneId: string,
    @Body(zodBody(changeBody)) body: z.infer<typeof changeBody>,
    @Req() req: FastifyRequest,
  ) {
    return this.phones.change(accountId, phoneId, body, clientIp(req));
  }

  @Post(':phoneId/primary')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Make a verified number primary',
    description:
      `The primary number takes the codes (SMS or voice two-step, step-ups, password resets): making another number primary needs ${STEP_UP} ` +
      'The e-mail and the old primary number are told.',
  })
  @ApiBody({ required: false, description: 'When another number is primary now', schema: stepUpSchema })
  @ApiResponse({ status: 200, description: '{phoneId, status: "verified", primary: true}' })
  @ApiProblems('phone_not_verified', ...STEP_UP_PROBLEMS, 'not_found')
  primary(@Param('accountId') accountId: string, @Param('phoneId') phoneId: string, @Body(zodBody(stepUpProof)) body: z.infer<typeof stepUpProof>) {
    return this.phones.makePrimary(accountId, phoneId, body);
  }

  @Delete(':phoneId')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Deregister a number',
    description: [
      'A primary hands over to the other verified number (which then carries SMS or voice two-step); with none left, phone two-step is turned off (a phone backup dropped). The e-mail is told.',
      'The verified primary number takes the codes (SMS or voice two-step, step-ups, password resets): removing it, whatever two-step is and whether another number takes over or none is left, and any removal that changes two-step,',
      `needs ${STEP_UP} A pending number, and another verified number whose removal changes no setting, go without.`,
    ].join(' '),
  })
  @ApiBody({ required: false, description: 'When removing the verified primary, or a removal that changes two-step', schema: stepUpSchema })
  @ApiResponse({ status: 204 })
  @ApiProblems(...STEP_UP_PROBLEMS, 'not_found')
  async remove(
    @Param('accountId') accountId: string,
    @Param('phoneId') phoneId: string,
    @Body(zodBody(stepUpProof)) body: z.infer<typeof stepUpProof>,
  ): Promise<void> {
    await this.phones.remove(accountId, phoneId, body);
  }
}
