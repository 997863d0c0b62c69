import { Controller, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { ApiExcludeEndpoint } from '@nestjs/swagger';
import {
  AcceptsBodies,
  DomainError,
  type Logger,
  PLATFORM_LOGGER,
  Public,
} from '@phonegate/platform';
import type { FastifyRequest } from 'fastify';
import { CarrierGateway } from '../carrier-health/carrier-gateway';
import { callbackStatusOf } from '../carriers/http-sms/status-callback.parser';
import { ReceiptService } from './receipt.service';

export const RECEIPT_CALLBACK_BASE = Symbol('RECEIPT_CALLBACK_BASE');

/**
 * Status callbacks of HTTP carriers. Public (carriers hold no API key of
 * ours): each is checked against the carrier's own signature instead.
 */
@Controller('v1/carriers')
export class ReceiptsController {
  constructor(
    @Inject(CarrierGateway) private readonly carriers: CarrierGateway,
    @Inject(ReceiptService) private readonly receipts: ReceiptService,
    @Inject(RECEIPT_CALLBACK_BASE) private readonly base: string,
    @Inject(PLATFORM_LOGGER) private readonly logger: Logger,
  ) {}

  @Post(':carrier/receipts')
  @Public()
  @AcceptsBodies('application/x-www-form-urlencoded')
  @HttpCode(204)
  @ApiExcludeEndpoint()
  async receive(@Param('carrier') carrier: string, @Req() request: FastifyRequest): Promise<void> {
    // A NUL in a field or name was refused 422 by the platform before this runs (no text column
    // stores it).
    const params = formParams(request.body);
    // The carrier signed the URL it called: our public base plus the path and query as received.
    const url = `${this.base}${request.url}`;
    const verdict = this.carriers.readCallback({ carrier, url, headers: request.headers, params });
    // An unknown carrier has no token to sign with: the same 401 as a bad signature, so the
    // answer does not tell which carriers exist.
    if (!verdict.ok)
      throw new DomainError('invalid_signature', 'The callback signature is not valid.');
    if (verdict.receipts.length === 0) {
      // An intermediate status (`sent`), or one we do not know (`scheduled`): not an outcome.
      this.logger.debug(
        { carrier, status: callbackStatusOf(params).slice(0, 40) },
        'status callback without a final status',
      );
      return;
    }
    for (const receipt of verdict.receipts) await this.receipts.apply(receipt);
  }
}

function formParams(body: unknown): Record<string, string> {
  if (!body || typeof body !== 'object') return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>))
    if (typeof v === 'string') out[k] = v;
  return out;
}
