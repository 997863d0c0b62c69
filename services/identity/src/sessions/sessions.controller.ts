import { isIP } from 'node:net';
import { Body, Controller, Delete, Get, Header, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Public, Scopes, zodBody } from '@phonegate/platform';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { clientCountry } from '../shared/client-ip';
import { ApiProblems, ApiZodBody } from '../shared/openapi';
import { DevicesService } from './devices.service';
import { SessionTokenService } from './session-token.service';
import { SignInService } from './sign-in.service';

export const signInBody = z.object({
  email: z.string().trim().min(1).max(320),
  password: z.string().min(1).max(256),
  device: z.object({
    id: z.string().trim().min(1).max(200),
    name: z.string().trim().max(200).optional(),
    ip: z.string().refine((v) => isIP(v) !== 0, 'must be an IPv4 or IPv6 address'),
    userAgent: z.string().max(500).optional(),
  }),
});
export const signInVerifyBody = z.object({
  code: z.string().trim().min(1).max(64),
  rememberDevice: z.boolean().optional(),
  /** The code is from an authenticator app or a backup code (verified by the otp service). */
  factor: z.enum(['totp', 'backup_code']).optional(),
});
export const signInResendBody = z.object({ channel: z.enum(['sms', 'voice', 'email']).optional() });

@ApiTags('sessions')
@ApiBearerAuth()
@Scopes('storefront')
@Controller('v1/sessions')
export class SessionsController {
  constructor(
    private readonly signIn: SignInService,
    private readonly devices: DevicesService,
  ) {}

  @Post()
  @ApiOperation({
    summary: 'Sign in',
    description: [
      'E-mail and password, then a code when two-step is on and the device is not remembered, or its country differs from the device\'s last one.',
      'The country comes from the gateway\'s `x-client-country` header (ISO 3166 alpha-2, when IDENTITY_TRUST_COUNTRY_HEADER) or else from the',
      'small configured table of ranges IDENTITY_IP_COUNTRIES; an unknown country never causes a challenge by itself.',
      'An unknown e-mail and a wrong password get the same 401 in the same time (one argon2 verification either way).',
      'Failed sign-ins are limited per account and per IP (429 with Retry-After).',
    ].join(' '),
  })
  @ApiHeader({ name: 'x-client-country', required: false, description: "The gateway's GeoIP country of device.ip" })
  @ApiZodBody(signInBody)
  @ApiResponse({ status: 201, description: '{sessionToken (JWT, EdDSA, kid in the header; keys at /.well-known/jwks.json), expiresAt, sessionId}' })
  @ApiResponse({ status: 202, description: '{loginId, challenge: {id, channel, to (masked), expiresAt, alternatives}}' })
  @ApiProblems('invalid_credentials', 'rate_limited', 'account_locked', 'validation_failed', 'service_unavailable')
  async start(@Body(zodBody(signInBody)) body: z.infer<typeof signInBody>, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const result = await this.signIn.start(body, clientCountry(req));
    // A session token is a credential: no cache keeps it.
    void reply.header('cache-control', 'no-store');
    if (result.status === 'challenged') {
      return reply.status(202).send({ loginId: result.loginId, challenge: result.challenge });
    }
    return reply.status(201).send({ sessionToken: result.sessionToken, expiresAt: result.expiresAt, sessionId: result.sessionId });
  }

  @Post(':loginId/verify')
  @HttpCode(201)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'Finish a challenged sign-in with its code', description: 'rememberDevice: the device is not challenged again for 30 days (IDENTITY_REMEMBER_DEVICE_TTL).' })
  @ApiZodBody(signInVerifyBody)
  @ApiResponse({ status: 201, description: '{sessionToken, expiresAt, sessionId}' })
  @ApiProblems('code_mismatch', 'code_expired', 'too_many_attempts', 'account_locked', 'validation_failed')
  async verify(@Param('loginId') loginId: string, @Body(zodBody(signInVerifyBody)) body: z.infer<typeof signInVerifyBody>) {
    const result = await this.signIn.verify(loginId, body.code, body.rememberDevice ?? false, body.factor);
    return { sessionToken: result.sessionToken, expiresAt: result.expiresAt, sessionId: result.sessionId };
  }

  @Post(':loginId/resend')
  @HttpCode(202)
  @ApiOperation({ summary: 'Resend the code, or switch channel (sms, voice, or email where it is the configured backup)' })
  @ApiZodBody(signInResendBody)
  @ApiResponse({ status: 202, description: '{loginId, challenge: {id, channel, to, expiresAt, resendAvailableAt, alternatives}}' })
  @ApiProblems('resend_cooldown', 'rate_limited', 'code_expired', 'validation_failed')
  resend(@Param('loginId') loginId: string, @Body(zodBody(signInResendBody)) body: z.infer<typeof signInResendBody>) {
    return this.signIn.resend(loginId, body.channel);
  }

  @Get(':sessionId')
  @ApiOperation({ summary: 'Whether a session (the token\'s sid) is still active (not revoked by a password change, not expired)' })
  @ApiResponse({ status: 200, description: '{sessionId, accountId, deviceId, active, expiresAt, revokedAt}' })
  @ApiProblems('not_found')
  session(@Param('sessionId') sessionId: string) {
    return this.devices.session(sessionId);
  }
}

@ApiTags('sessions')
@ApiBearerAuth()
@Scopes('storefront')
@Controller('v1/accounts/:accountId/devices')
export class DevicesController {
  constructor(private readonly devices: DevicesService) {}

  @Delete(':deviceId')
  @HttpCode(204)
  @ApiOperation({ summary: 'Forget a remembered device: its next sign-in is challenged again' })
  @ApiResponse({ status: 204 })
  @ApiProblems('not_found')
  async forget(@Param('accountId') accountId: string, @Param('deviceId') deviceId: string): Promise<void> {
    await this.devices.forget(accountId, deviceId);
  }
}

@Public()
@Controller('.well-known')
export class JwksController {
  constructor(private readonly tokens: SessionTokenService) {}

  @Get('jwks.json')
  @ApiTags('sessions')
  @ApiOperation({ summary: 'Public keys of session tokens (EdDSA / Ed25519), by kid' })
  async jwks(@Res() reply: FastifyReply) {
    return reply.header('cache-control', 'public, max-age=300').send(await this.tokens.publicJwks());
  }
}

