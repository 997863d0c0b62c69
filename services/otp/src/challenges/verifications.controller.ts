import {
  Body,
  Controller,
  Get,
  Header,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { ApiBearerAuth, ApiExcludeEndpoint, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AcceptsBodies, DomainError, principalOf, Public, Scopes, zodBody } from '@phonegate/platform';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OtpConfig } from '../config/otp.config';
import { OTP_CONFIG } from '../ports/event-publisher';
import {
  checkBody,
  type CheckBody,
  isUuid,
  reportQuery,
  resendBody,
  type ResendBody,
  startBody,
  type StartBody,
} from '../http/schemas';
import { ApiAnswers, ApiZodBody } from '../http/openapi';
import type { Caller } from './challenge.model';
import { ChallengeService } from './challenge.service';

function challengeId(id: string): string {
  if (!isUuid(id)) throw new DomainError('not_found', 'No such verification.');
  return id.toLowerCase();
}

/** The API key that called (the guard has checked it): a challenge answers only the key that started it. */
function caller(request: FastifyRequest): Caller {
  const principal = principalOf(request);
  if (!principal)
    throw new DomainError('unauthorized', 'Send an API key as "Authorization: Bearer <key>".');
  return {
    via: 'http',
    client: principal.id,
    ...(principal.keyId && principal.keyId !== principal.id ? { key: principal.keyId } : {}),
  };
}

const THANKS = page(
  'Thank you',
  '<p>That code no longer works, and the account owner has been told.</p>',
);

/** The generic verification API (storefront backends): start, check, resend, read. */
@ApiTags('verifications')
@ApiBearerAuth()
@Controller('v1/verifications')
export class VerificationsController {
  constructor(
    @Inject(ChallengeService) private readonly challenges: ChallengeService,
    @Inject(OTP_CONFIG) private readonly config: OtpConfig,
  ) {}

  @Post()
  @HttpCode(201)
  @Scopes('storefront')
  @ApiOperation({ summary: 'Start a verification and send its first code' })
  @ApiZodBody(startBody)
  @ApiAnswers(
    { status: 201, description: 'the verification (destination masked)' },
    'validation_failed',
    'invalid_phone_number',
    'destination_refused',
    'rate_limited',
    'prefix_quarantined',
    'account_locked',
    'unauthorized',
    'forbidden',
    'service_unavailable',
  )
  start(@Body(zodBody(startBody)) body: StartBody, @Req() request: FastifyRequest) {
    return this.challenges.start(body, caller(request));
  }

  @Post(':id/check')
  @HttpCode(200)
  @Scopes('storefront')
  @ApiOperation({ summary: 'Check a code' })
  @ApiZodBody(checkBody)
  @ApiAnswers(
    { status: 200, description: 'approved' },
    'code_mismatch',
    'code_expired',
    'too_many_attempts',
    'account_locked',
    'not_found',
    'service_unavailable',
  )
  check(
    @Param('id') id: string,
    @Body(zodBody(checkBody)) body: CheckBody,
    @Req() request: FastifyRequest,
  ) {
    return this.challenges.check(
      {
        id: challengeId(id),
        code: body.code,
        ...(body.purpose ? { purpose: body.purpose } : {}),
        ...(body.ref !== undefined ? { ref: { value: body.ref } } : {}),
      },
      caller(request),
    );
  }

  @Post(':id/resend')
  @HttpCode(202)
  @Scopes('storefront')
  @ApiOperation({
    summary:
      'Send a new code (the old one stops working), optionally by another channel; `to` only for custom verifications',
  })
  @ApiZodBody(resendBody)
  @ApiAnswers(
    { status: 202, description: 'the verification with its new send' },
    'validation_failed',
    'resend_cooldown',
    'rate_limited',
    'code_expired',
    'conflict',
    'not_found',
    'service_unavailable',
  )
  resend(
    @Param('id') id: string,
    @Body(zodBody(resendBody)) body: ResendBody,
    @Req() request: FastifyRequest,
  ) {
    return this.challenges.resend({ id: challengeId(id), ...body }, caller(request));
  }

  @Get(':id')
  @Scopes('storefront')
  @ApiOperation({ summary: 'Status of a verification' })
  @ApiAnswers({ status: 200, description: 'pending | approved | expired | locked' }, 'not_found')
  get(@Param('id') id: string, @Req() request: FastifyRequest) {
    return this.challenges.get(challengeId(id), caller(request));
  }

  /**
   * The "I didn't ask for this" link in every code message (token-checked, no API key). By
   * default (`OTP_REPORT_GET=confirm`) a GET only shows a page whose button posts the report:
   * e-mail link scanners and message previews fetch links, and must not kill a sign-in code.
   */
  @Get(':id/report')
  @Public()
  @ApiExcludeEndpoint()
  @Header('cache-control', 'no-store')
  @Header('referrer-policy', 'no-referrer')
  async reportByLink(
    @Param('id') id: string,
    @Query() query: unknown,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const { t } = reportQuery.parse(query);
    if (this.config.reportGet === 'confirm') {
      this.challenges.checkReportToken(challengeId(id), t);
      void reply.header('content-type', 'text/html; charset=utf-8');
      return page(
        'Did you not ask for a code?',
        // Posts back to this same URL (token in the query); text/plain needs no form parser.
        `<p>If you did not ask for a code, this stops it working and tells the account owner.</p><form method="post" enctype="text/plain"><button type="submit">I did not ask for this code</button></form>`,
      );
    }
    await this.challenges.report(challengeId(id), t);
    void reply.header('content-type', 'text/html; charset=utf-8');
    return THANKS;
  }

  /** The report itself: the confirmation page's button (answered with a page), or an API call (JSON). */
  @Post(':id/report')
  @Public()
  // The confirmation page's form posts text/plain (no form parser needed); API calls send JSON.
  @AcceptsBodies('text/plain')
  @HttpCode(200)
  @ApiExcludeEndpoint()
  @Header('cache-control', 'no-store')
  @Header('referrer-policy', 'no-referrer')
  async report(
    @Param('id') id: string,
    @Query() query: Record<string, unknown>,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const fromBody =
      body && typeof body === 'object' ? (body as Record<string, unknown>)['t'] : undefined;
    const { t } = reportQuery.parse({ t: query['t'] ?? fromBody });
    const reported = await this.challenges.report(challengeId(id), t);
    if (!request.headers.accept?.includes('text/html')) return reported;
    void reply.header('content-type', 'text/html; charset=utf-8');
    return THANKS;
  }
}

function page(title: string, content: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title></head><body><h1>${title}</h1>${content}</body></html>`;
}
