import { Body, Controller, Header, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DomainError, Scopes, zodBody } from '@phonegate/platform';
import {
  backupCodesBody,
  type BackupCodesBody,
  confirmBody,
  type ConfirmBody,
  enrollBody,
  type EnrollBody,
  isUuid,
} from '../http/schemas';
import { ApiAnswers, ApiZodBody } from '../http/openapi';
import { FactorService } from './factor.service';

function uuidParam(value: string, what: string): string {
  if (!isUuid(value)) throw new DomainError('not_found', `No such ${what}.`);
  return value.toLowerCase();
}

const STEP_UP =
  "The account's first one is free; once it has one, a new one needs a step-up (SECURITY S8): `stepUpId`, the id of a verification of purpose step_up for this account approved in the last 5 minutes (identity's step-up of the account answers it as `challenge.id`: a code sent to the account's own number or e-mail; a storefront's own `POST /v1/verifications` does not count, its code went to an address the storefront chose), used once; without it 403 step_up_required and nothing changes. The account's e-mail is told.";

const KNOWN_ACCOUNT =
  "Only for an account identity has: 404 not_found for an id identity never issued (nothing is kept); 503 service_unavailable when identity cannot say in time about an account otp has not heard of yet.";

/** TOTP enrolment and backup codes. Answers that hold secrets are never cached or kept. */
@ApiTags('authenticators')
@ApiBearerAuth()
@Controller('v1/accounts/:accountId')
export class FactorsController {
  constructor(@Inject(FactorService) private readonly factors: FactorService) {}

  @Post('authenticators/totp')
  @HttpCode(201)
  @Scopes('storefront')
  @Header('cache-control', 'no-store')
  @ApiOperation({
    summary: 'Start TOTP enrolment: the secret and otpauth:// URI, shown once',
    description: KNOWN_ACCOUNT,
  })
  @ApiZodBody(enrollBody)
  @ApiAnswers(
    { status: 201, description: '{id, secret, otpauthUri}' },
    'validation_failed',
    'not_found',
    'service_unavailable',
  )
  enroll(@Param('accountId') accountId: string, @Body(zodBody(enrollBody)) body: EnrollBody) {
    return this.factors.enrollTotp(uuidParam(accountId, 'account'), body.label);
  }

  @Post('authenticators/totp/:id/confirm')
  @HttpCode(200)
  @Scopes('storefront')
  @ApiOperation({
    summary: "Confirm TOTP enrolment with a first code; it replaces the account's authenticator",
    description: `Replacing a confirmed authenticator: ${STEP_UP} A wrong code keeps the step-up for the next try. A copy of a confirmation already made with the same code (a double tap) is 410 code_expired: the code is used; it spends no attempt.`,
  })
  @ApiZodBody(confirmBody)
  @ApiAnswers(
    { status: 200, description: '{id, status: "confirmed"}' },
    'code_mismatch',
    'code_expired',
    'step_up_required',
    'too_many_attempts',
    'validation_failed',
    'not_found',
    'service_unavailable',
  )
  confirm(
    @Param('accountId') accountId: string,
    @Param('id') id: string,
    @Body(zodBody(confirmBody)) body: ConfirmBody,
  ) {
    return this.factors.confirmTotp(
      uuidParam(accountId, 'account'),
      uuidParam(id, 'authenticator'),
      body.code,
      body,
    );
  }

  @Post('backup-codes')
  @HttpCode(201)
  @Scopes('storefront')
  @Header('cache-control', 'no-store')
  @ApiOperation({
    summary: 'A new set of 10 backup codes (shown once; the old set stops working)',
    description: `A set: ${STEP_UP} ${KNOWN_ACCOUNT}`,
  })
  @ApiZodBody(backupCodesBody)
  @ApiAnswers(
    { status: 201, description: '{codes}' },
    'step_up_required',
    'validation_failed',
    'not_found',
    'service_unavailable',
  )
  backupCodes(
    @Param('accountId') accountId: string,
    @Body(zodBody(backupCodesBody)) body: BackupCodesBody,
  ) {
    return this.factors.regenerateBackupCodes(uuidParam(accountId, 'account'), body);
  }
}
