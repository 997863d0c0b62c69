import { Body, Controller, Header, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DomainError, Scopes, zodBody } from '@phonegate/platform';
import {
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
  @ApiOperation({ summary: 'Start TOTP enrolment: the secret and otpauth:// URI, shown once' })
  @ApiZodBody(enrollBody)
  @ApiAnswers(
    { status: 201, description: '{id, secret, otpauthUri}' },
    'validation_failed',
    'not_found',
  )
  enroll(@Param('accountId') accountId: string, @Body(zodBody(enrollBody)) body: EnrollBody) {
    return this.factors.enrollTotp(uuidParam(accountId, 'account'), body.label);
  }

  @Post('authenticators/totp/:id/confirm')
  @HttpCode(200)
  @Scopes('storefront')
  @ApiOperation({ summary: 'Confirm TOTP enrolment with a first code' })
  @ApiZodBody(confirmBody)
  @ApiAnswers(
    { status: 200, description: 'confirmed' },
    'code_mismatch',
    'too_many_attempts',
    'not_found',
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
    );
  }

  @Post('backup-codes')
  @HttpCode(201)
  @Scopes('storefront')
  @Header('cache-control', 'no-store')
  @ApiOperation({ summary: 'A new set of 10 backup codes (shown once; the old set stops working)' })
  @ApiAnswers({ status: 201, description: '{codes}' }, 'not_found')
  backupCodes(@Param('accountId') accountId: string) {
    return this.factors.regenerateBackupCodes(uuidParam(accountId, 'account'));
  }
}
