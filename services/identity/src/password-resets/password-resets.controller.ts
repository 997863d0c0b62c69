import { Body, Controller, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Scopes, zodBody } from '@phonegate/platform';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { clientIp } from '../shared/client-ip';
import { ApiProblems, ApiZodBody } from '../shared/openapi';
import { PasswordResetService } from './password-reset.service';

export const resetBody = z.union([
  z.object({ email: z.string().trim().max(320).pipe(z.email()) }).strict(),
  z.object({ phone: z.string().max(64), country: z.string().max(8).optional() }).strict(),
]);
export const resetCompleteBody = z.object({
  code: z.string().trim().min(1).max(64),
  newPassword: z.string().min(8).max(256),
});

@ApiTags('password-resets')
@ApiBearerAuth()
@Scopes('storefront')
@Controller('v1/password-resets')
export class PasswordResetsController {
  constructor(private readonly resets: PasswordResetService) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({
    summary: 'Ask for a password reset code',
    description:
      'Always 202 {resetId}, with the same shape and timing whether or not the account or number exists (an unknown one gets a decoy resetId). The code goes to the verified primary number, else to the e-mail.',
  })
  @ApiZodBody(resetBody)
  @ApiResponse({ status: 202, description: '{resetId}' })
  @ApiProblems('rate_limited', 'invalid_phone_number', 'validation_failed')
  request(@Body(zodBody(resetBody)) body: z.infer<typeof resetBody>, @Req() req: FastifyRequest) {
    return this.resets.request(body, clientIp(req));
  }

  @Post(':resetId/complete')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Set a new password with the code; every session and remembered device is revoked and the e-mail told',
    description:
      'A code sent within the last few seconds is checked once its send has surely ended (the same wait for any reset). While the code is still on its way (the otp service unreachable; it is sent again), 503 with Retry-After.',
  })
  @ApiZodBody(resetCompleteBody)
  @ApiResponse({ status: 200, description: '{resetId, status: "completed"}' })
  @ApiProblems(
    'code_mismatch',
    'code_expired',
    'too_many_attempts',
    'validation_failed',
    'service_unavailable',
  )
  complete(
    @Param('resetId') resetId: string,
    @Body(zodBody(resetCompleteBody)) body: z.infer<typeof resetCompleteBody>,
  ) {
    return this.resets.complete(resetId, body.code, body.newPassword);
  }
}
