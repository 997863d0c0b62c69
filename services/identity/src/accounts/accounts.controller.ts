import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { emailAddress, locale } from '@phonegate/contracts';
import { Scopes, zodBody } from '@phonegate/platform';
import { z } from 'zod';
import { ApiProblems, ApiZodBody } from '../shared/openapi';
import { AccountsService } from './accounts.service';

export const createAccountBody = z.object({
  email: z.string().trim().max(320).pipe(emailAddress),
  password: z.string().min(8).max(256),
  name: z.string().trim().min(1).max(200).optional(),
  locale: locale.optional(),
});

@ApiTags('accounts')
@ApiBearerAuth()
@Scopes('storefront')
@Controller('v1/accounts')
export class AccountsController {
  constructor(private readonly accounts: AccountsService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Create an account', description: 'The password is stored as an argon2id hash; e-mail is unique case-insensitively.' })
  @ApiZodBody(createAccountBody)
  @ApiResponse({ status: 201, description: '{id, email, name, locale, phones: [], twoStep, createdAt}' })
  @ApiProblems('email_taken', 'validation_failed')
  create(@Body(zodBody(createAccountBody)) body: z.infer<typeof createAccountBody>) {
    return this.accounts.create(body);
  }

  @Get(':accountId')
  @ApiOperation({ summary: 'The account with its phones (E.164) and two-step settings' })
  @ApiResponse({ status: 200, description: '{id, email, name, locale, phones: [{phoneId, number, status, primary, ...}], twoStep}' })
  @ApiProblems('not_found')
  get(@Param('accountId') accountId: string) {
    return this.accounts.get(accountId);
  }
}
